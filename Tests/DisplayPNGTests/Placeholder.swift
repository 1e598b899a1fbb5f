import Testing
@Test func placeholderDisplayPNGTests() { #expect(Bool(true)) }
