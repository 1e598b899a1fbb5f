import Testing
@Test func placeholderGuestMemoryTests() { #expect(Bool(true)) }
