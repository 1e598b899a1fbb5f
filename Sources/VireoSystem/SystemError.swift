// SystemError: the one errno policy. Environment failures throw this; Vireo's own invariants use precondition.
import Glibc

public struct SystemError: Error, Equatable, CustomStringConvertible, Sendable {
    public let operation: String
    public let errno: Int32
    public init(_ operation: String, errno: Int32 = Glibc.errno) {
        self.operation = operation
        self.errno = errno
    }
    public var description: String { "\(operation): \(String(cString: strerror(errno))) (errno \(errno))" }
}
