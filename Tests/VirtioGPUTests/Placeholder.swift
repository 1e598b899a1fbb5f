import Testing
@Test func placeholderVirtioGPUTests() { #expect(Bool(true)) }
