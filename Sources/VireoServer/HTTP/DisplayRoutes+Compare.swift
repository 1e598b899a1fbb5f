// POST /v1/displays/{index}/compare (screen against a reference PNG, with masks and a tolerance) and
// POST /v1/displays/{index}/wait-for (find a needle PNG on screen within a timeout). Bodies are raw image/png.
import Display
import DisplayCompare
import DisplayPNG
import Foundation
import HTTPTypes
import Hummingbird

struct BoxJSON: Encodable, Sendable {
    var x: UInt32, y: UInt32, width: UInt32, height: UInt32
    init(_ r: Rect) { x = r.x; y = r.y; width = r.width; height = r.height }
}

struct CompareVerdict: Encodable, Sendable {
    var match: Bool
    var differing_pixels: Int
    var compared_pixels: Int
    var allowed_differing_pixels: Int
    var max_channel_delta: Int
    var difference_box: BoxJSON?
    var width: Int
    var height: Int
    var frame_counter: UInt64
    /// base64 PNG, with diff=true.
    var diff_png: String?
}

struct FoundJSON: Encodable, Sendable {
    var found = true
    var x: Int, y: Int, width: Int, height: Int
    var differing_pixels: Int
    var frame_counter: UInt64
    var waited_ms: Int
}

extension DisplayRoutes {
    /// Images whose header claims more pixels than this are refused before decoding (413): 16384 x 16384, the
    /// largest display.
    static let maxUploadPixels = 16384 * 16384

    /// The request body (the PNG), at most `maxUploadBytes`.
    func upload(_ request: Request, what: String) async throws(APIError) -> [UInt8] {
        if let type = request.headers[.contentType], !type.lowercased().hasPrefix("image/png"),
           !type.lowercased().hasPrefix("application/octet-stream") {
            throw .badRequest("send the \(what) as a raw image/png body (got Content-Type \(type.prefix(60)))")
        }
        let bytes: [UInt8]
        do {
            let buffer = try await request.body.collect(upTo: settings.maxUploadBytes)
            bytes = Array(buffer.readableBytesView)
        } catch let error as HTTPResponseError where error.status == .contentTooLarge {
            throw .tooLarge("the \(what) is larger than the upload limit of \(settings.maxUploadBytes) bytes (--max-upload)")
        } catch {
            throw .badRequest("could not read the request body: \(error)")
        }
        guard !bytes.isEmpty else { throw .badRequest("no \(what) PNG in the request body") }
        return bytes
    }

    /// Width and height from a PNG's IHDR, read before any decoding: 400 when the bytes are not a PNG.
    static func pngHeaderSize(_ bytes: [UInt8], what: String) throws(APIError) -> (width: Int, height: Int) {
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        guard bytes.count >= 24, Array(bytes[0..<8]) == signature, Array(bytes[12..<16]) == Array("IHDR".utf8) else {
            throw .badRequest("the \(what) is not a PNG (bad signature or truncated header)")
        }
        func be(_ at: Int) -> Int { bytes[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
        let w = be(16), h = be(20)
        guard w > 0, h > 0 else { throw .badRequest("the \(what) PNG header claims \(w)x\(h)") }
        guard w <= 16384, h <= 16384, w * h <= maxUploadPixels else {
            throw .tooLarge("the \(what) PNG header claims \(w)x\(h) pixels, more than any display (16384x16384)")
        }
        return (w, h)
    }

    /// Decodes (on the caller's thread: call from a cpuJob) with the pixel limit the header promised.
    static func decode(_ bytes: [UInt8], maxPixels: Int, what: String) throws(APIError) -> PixelImage {
        do {
            let image = try PNGDecoder.decodeRGBA(bytes, maxPixels: maxPixels)
            return PixelImage(width: Int(image.width), height: Int(image.height), rgba: image.rgba)
        } catch .tooLarge(let w, let h, _) {
            throw .tooLarge("the \(what) PNG is \(w)x\(h), over the limit")
        } catch {
            throw .badRequest("the \(what) is not a valid PNG: \(error)")
        }
    }

    func compare(indexText: String, request: Request) async throws(APIError) -> Response {
        let (set, index) = try display(indexText)
        let query = QueryOptions(request.uri, allowed: QueryOptions.shotKeys.union(QueryOptions.toleranceKeys)
            .union(["mask", "diff"]))
        let shot = try query.shotOptions(maxTimeoutMs: settings.maxTimeoutMs)
        let tolerance = try query.tolerance()
        let masks = try query.rects("mask")
        let wantDiff = try query.bool("diff") ?? false
        try query.checkNoneLeft()
        let body = try await upload(request, what: "reference")
        let (refW, refH) = try Self.pngHeaderSize(body, what: "reference")

        let frame = try await acquire(set, index, shot)
        let region = try shot.checkedRegion(in: frame)
        let area = region ?? Rect(x: 0, y: 0, width: frame.width, height: frame.height)
        guard refW == Int(area.width), refH == Int(area.height) else {
            throw .badRequest("reference is \(refW)x\(refH) but the \(region == nil ? "display" : "region") is \(area.width)x\(area.height)")
        }
        for m in masks where !m.isInside(width: area.width, height: area.height) {
            throw .badRequest("mask \(m.x),\(m.y),\(m.width),\(m.height) is not inside the \(area.width)x\(area.height) \(region == nil ? "display" : "region")")
        }
        let options = self.options
        return try await cpuJob { () throws(APIError) -> Response in
            let reference = try Self.decode(body, maxPixels: refW * refH, what: "reference")
            guard let screen = PixelImage(frame: frame, region: region) else { throw .badRequest("region outside the display") }
            do {
                let result: CompareResult
                var diffPNG: String?
                if wantDiff {
                    let (r, diff) = try ImageCompare.compareWithDiff(screen, reference, masks: masks, tolerance: tolerance)
                    result = r
                    diffPNG = Data(try PNGEncoder.encode(diff.frame(), options: options)).base64EncodedString()
                } else {
                    result = try ImageCompare.compare(screen, reference, masks: masks, tolerance: tolerance)
                }
                let verdict = CompareVerdict(
                    match: result.match, differing_pixels: result.differingPixels, compared_pixels: result.comparedPixels,
                    allowed_differing_pixels: result.allowedDifferingPixels, max_channel_delta: result.maxChannelDelta,
                    difference_box: result.differenceBox.map(BoxJSON.init), width: screen.width, height: screen.height,
                    frame_counter: frame.frameCounter, diff_png: diffPNG)
                var response = Response.json(verdict)
                response.headers[HTTPField.Name("X-Vireo-Frame-Counter")!] = "\(frame.frameCounter)"
                return response
            } catch let error as CompareError {
                throw .badRequest(error.description)
            } catch {
                throw APIError(status: .internalServerError, message: "diff PNG encoding failed: \(error)")
            }
        }
    }

    func waitFor(indexText: String, request: Request) async throws(APIError) -> Response {
        let (set, index) = try display(indexText)
        let query = QueryOptions(request.uri, allowed: QueryOptions.toleranceKeys
            .union(["area", "needle_region", "timeout_ms", "cursor"]))
        let area = try query.rect("area")
        let needleRegion = try query.rect("needle_region")
        let tolerance = try query.tolerance()
        let cursor = try query.bool("cursor") ?? false
        let timeoutMs = try query.integer("timeout_ms", 0...settings.maxTimeoutMs) ?? 10_000
        try query.checkNoneLeft()
        let body = try await upload(request, what: "needle")
        let (needleW, needleH) = try Self.pngHeaderSize(body, what: "needle")
        let first = try status(set, index)
        guard needleW <= Int(first.width), needleH <= Int(first.height) else {
            throw .badRequest("needle is \(needleW)x\(needleH), larger than the \(first.width)x\(first.height) display")
        }
        var needle = try await cpuJob { () throws(APIError) in try Self.decode(body, maxPixels: needleW * needleH, what: "needle") }
        if let needleRegion {
            guard let cropped = needle.cropped(needleRegion) else {
                throw .badRequest("needle_region \(needleRegion.x),\(needleRegion.y),\(needleRegion.width),\(needleRegion.height) is not inside the \(needle.width)x\(needle.height) needle")
            }
            needle = cropped
        }
        let finalNeedle = needle
        let started = Date()
        let deadline = started + Double(timeoutMs) / 1000
        return try await asWaiter { () throws(APIError) -> Response in
            var checked: UInt64?
            var lastFrame: Frame?
            while true {
                let info = try status(set, index)
                if info.frameCounter != checked {
                    guard var frame = set.snapshot(index), frame.width > 0 else { throw .disabled(index) }
                    if cursor { frame = frame.compositing(cursor: set.cursor, scanout: index) }
                    let shot = frame
                    let found = try await cpuJob { () throws(APIError) -> TemplateMatch? in
                        guard let screen = PixelImage(frame: shot) else { return nil }
                        do { return try TemplateSearch.find(finalNeedle, in: screen, area: area, tolerance: tolerance) } catch {
                            throw .badRequest("\(error)")
                        }
                    }
                    if let m = found {
                        return .json(FoundJSON(x: m.x, y: m.y, width: m.width, height: m.height,
                                               differing_pixels: m.differingPixels, frame_counter: frame.frameCounter,
                                               waited_ms: Int(Date().timeIntervalSince(started) * 1000)))
                    }
                    checked = frame.frameCounter
                    lastFrame = frame
                }
                if Date() >= deadline {
                    let path = lastFrame.map { "/v1/shots/\(shots.put($0)).png" }
                    throw .timeout("needle not found on display \(index) within \(timeoutMs) ms", lastScreenshot: path,
                                   frameCounter: lastFrame?.frameCounter)
                }
                try? await Task.sleep(for: Self.pollInterval)
            }
        }
    }
}
