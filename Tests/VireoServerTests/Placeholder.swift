import Testing
@Test func placeholderVireoServerTests() { #expect(Bool(true)) }
