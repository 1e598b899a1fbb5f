// DisplayRoutes+Input: `POST /v1/input/keys`: keys pressed and released, and text typed, through the client's
// virtio-input device (`--input-socket`): the same path VNC clients' keys take. For scripted tests (type into the
// guest, then wait for the screen) and for checking the input path without a VNC client.
import Foundation
import Hummingbird

/// The body: keysyms pressed and released in order, then `text` typed (printable ASCII, newline, tab).
struct KeysRequest: Decodable {
    var keysyms: [UInt32]?
    var text: String?
}

/// The answer: what was handed to the device.
struct KeysResponse: Encodable {
    var keysyms: Int
    var characters: Int
}

extension DisplayRoutes {
    static let maxKeysBody = 64 << 10
    static let maxKeysyms = 1024

    func typeKeys(request: Request) async throws(APIError) -> Response {
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: Self.maxKeysBody) } catch {
            throw .tooLarge("the body is larger than \(Self.maxKeysBody) bytes")
        }
        let keys: KeysRequest
        do { keys = try JSONDecoder().decode(KeysRequest.self, from: Data(buffer.readableBytesView)) } catch {
            throw .badRequest("expected JSON {\"keysyms\": [unsigned 32-bit integers], \"text\": \"...\"}")
        }
        let keysyms = keys.keysyms ?? [], text = keys.text ?? ""
        guard !keysyms.isEmpty || !text.isEmpty else { throw .badRequest("give keysyms or text") }
        guard keysyms.count <= Self.maxKeysyms else { throw .badRequest("at most \(Self.maxKeysyms) keysyms") }
        guard let input else {
            throw APIError(status: .serviceUnavailable, message: "no input device (start vireo-gpu with --input-socket)")
        }
        guard input.isConnected else { throw APIError(status: .serviceUnavailable, message: "no input device connected") }
        for k in keysyms {
            input.keysym(k, down: true)
            input.keysym(k, down: false)
        }
        let typed = text.isEmpty ? 0 : input.type(text: text)
        return .json(KeysResponse(keysyms: keysyms.count, characters: typed))
    }
}
