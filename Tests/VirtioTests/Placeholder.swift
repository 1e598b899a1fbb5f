import Testing
@Test func placeholderVirtioTests() { #expect(Bool(true)) }
