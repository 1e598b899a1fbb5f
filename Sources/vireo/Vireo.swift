// vireo: the screenshot-testing CLI over vireo-gpu's HTTP API. Exit codes a CI script can branch on:
// 0 success/match/found, 1 mismatch, 2 usage or bad parameters, 3 timeout, 4 any other error (connection, server).
import ArgumentParser
import Foundation

enum Exit {
    static let ok: Int32 = 0, mismatch: Int32 = 1, usage: Int32 = 2, timeout: Int32 = 3, failure: Int32 = 4
}

/// Ends the process with `code` after printing `message` to stderr (and for --json, a JSON object to stdout).
struct Failure: Error {
    var code: Int32
    var message: String
}

@main
struct Vireo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vireo",
        abstract: "Screenshots for automated testing, from a running vireo-gpu (its --http API).",
        discussion: """
            The server is --url http://HOST:PORT or --socket PATH (a --http unix:PATH socket), default $VIREO_URL \
            or http://127.0.0.1:8080. A token (--api-token-file on the server) comes from --token-file or \
            $VIREO_TOKEN.
            Exit codes: 0 success, match or found; 1 mismatch; 2 usage or bad parameters; 3 timeout; 4 other errors.
            Shell completion: vireo --generate-completion-script bash|zsh|fish.
            """,
        version: "0.1.0",
        subcommands: [Displays.self, Screenshot.self, Compare.self, WaitFor.self])

    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch let failure as Failure {
            FileHandle.standardError.write(Data("vireo: \(failure.message)\n".utf8))
            Foundation.exit(failure.code)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                exit(withError: error)    // --help, --version, completion scripts
            }
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            Foundation.exit(code == .validationFailure ? Exit.usage : (code.rawValue == 0 ? 0 : Exit.failure))
        }
    }
}

struct ServerOptions: ParsableArguments {
    @Option(name: .long, help: "The API's URL, http://HOST:PORT (default: $VIREO_URL or http://127.0.0.1:8080).")
    var url: String?

    @Option(name: .long, help: "The API's unix socket (vireo-gpu --http unix:PATH).", completion: .file())
    var socket: String?

    @Option(name: .customLong("token-file"), help: "File whose first line is the bearer token (default: $VIREO_TOKEN).",
            completion: .file())
    var tokenFile: String?

    @Option(name: [.short, .customLong("display")], help: "Display index.")
    var display: Int = 0

    @Flag(name: .long, help: "Print the server's JSON answer on stdout.")
    var json = false

    func client() throws -> HTTPClient {
        let env = ProcessInfo.processInfo.environment
        var token = env["VIREO_TOKEN"]
        if let tokenFile {
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8),
                  let line = text.split(whereSeparator: \.isNewline).first else {
                throw Failure(code: Exit.usage, message: "--token-file \(tokenFile): cannot read a token")
            }
            token = line.trimmingCharacters(in: .whitespaces)
        }
        do {
            return try HTTPClient(url: url ?? (socket == nil ? env["VIREO_URL"] : nil), socket: socket, token: token)
        } catch let error as ClientError {
            throw Failure(code: Exit.usage, message: error.description)
        }
    }

    func validateDisplay() throws {
        guard (0..<16).contains(display) else { throw ValidationError("--display must be 0...15") }
    }
}

/// Sends the request; maps transport failures and error statuses to exit codes (2 for 400, 3 for 408, else 4).
func perform(_ client: HTTPClient, _ method: String, _ path: String, body: [UInt8]? = nil, timeout: Double,
             json: Bool, acceptMismatch: Bool = false) throws -> HTTPReply {
    let reply: HTTPReply
    do {
        reply = try client.request(method, path, body: body, contentType: body == nil ? nil : "image/png",
                                   timeout: timeout)
    } catch let error as ClientError {
        throw Failure(code: Exit.failure, message: error.description)
    }
    if reply.status == 200 { return reply }
    if json, reply.headers["content-type"]?.hasPrefix("application/json") == true { print(reply.text) }
    var message = reply.errorMessage
    if reply.status == 408, let last = reply.json?["last_screenshot"] as? String {
        message += " (last screenshot: \(client.display)\(last))"
    }
    switch reply.status {
    case 400, 413: throw Failure(code: Exit.usage, message: message)
    case 408: throw Failure(code: Exit.timeout, message: message)
    default: throw Failure(code: Exit.failure, message: "\(message) (HTTP \(reply.status))")
    }
}

/// "500ms", "30s", "2m", "1.5s" -> milliseconds.
func parseDuration(_ text: String, option: String) throws -> Int {
    let units: [(String, Double)] = [("ms", 1), ("s", 1000), ("m", 60_000)]
    for (suffix, scale) in units where text.hasSuffix(suffix) {
        let number = text.dropLast(suffix.count)
        if let value = Double(number), value.isFinite, value >= 0, value * scale <= 3_600_000,
           number.allSatisfy({ $0.isNumber || $0 == "." }) {
            return Int((value * scale).rounded())
        }
    }
    throw ValidationError("\(option) \(text): expected a duration such as 500ms, 30s or 2m")
}

/// "x,y,w,h" checked for shape here (the server checks it against the display).
func checkRect(_ text: String, option: String) throws -> String {
    let parts = text.split(separator: ",", omittingEmptySubsequences: false)
    guard parts.count == 4, parts.allSatisfy({ !$0.isEmpty && $0.count <= 10 && $0.allSatisfy(\.isNumber) }) else {
        throw ValidationError("\(option) \(text): expected x,y,width,height (non-negative integers)")
    }
    return text
}

/// "DELTA", "DELTA,PIXELS" or "DELTA,PERCENT%": per-channel delta and the differing pixels allowed.
func toleranceQuery(_ text: String?) throws -> [(String, String)] {
    guard let text else { return [] }
    let parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    guard (1...2).contains(parts.count), let delta = Int(parts[0]), (0...255).contains(delta) else {
        throw ValidationError("--tolerance \(text): expected DELTA[,PIXELS|,PERCENT%] (DELTA 0...255), e.g. 8 or 8,100 or 8,0.5%")
    }
    var query = [("channel_delta", String(delta))]
    if parts.count == 2 {
        if parts[1].hasSuffix("%") {
            guard let pct = Double(parts[1].dropLast()), pct.isFinite, (0...100).contains(pct) else {
                throw ValidationError("--tolerance \(text): the percentage must be 0...100")
            }
            query.append(("max_diff_fraction", String(pct / 100)))
        } else {
            guard let n = Int(parts[1]), n >= 0 else { throw ValidationError("--tolerance \(text): PIXELS must be >= 0") }
            query.append(("max_diff_pixels", String(n)))
        }
    }
    return query
}

func queryString(_ items: [(String, String)]) -> String {
    items.isEmpty ? "" : "?" + items.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
}

func readPNG(_ path: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw Failure(code: Exit.usage, message: "cannot read \(path)")
    }
    return [UInt8](data)
}

func write(_ bytes: [UInt8], to path: String) throws {
    if path == "-" {
        FileHandle.standardOutput.write(Data(bytes))
        return
    }
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
        throw Failure(code: Exit.failure, message: "cannot write \(path)")
    }
}

struct Displays: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the guest's displays.")
    @OptionGroup var server: ServerOptions

    func run() throws {
        let client = try server.client()
        let reply = try perform(client, "GET", "/v1/displays", timeout: 15, json: server.json)
        if server.json { print(reply.text); return }
        guard let list = (try? JSONSerialization.jsonObject(with: Data(reply.body))) as? [[String: Any]] else {
            throw Failure(code: Exit.failure, message: "unexpected answer: \(reply.text.prefix(200))")
        }
        for d in list {
            let enabled = (d["enabled"] as? Bool) == true
            var line = "\(d["index"] ?? "?")  "
            line += enabled ? "\(d["width"] ?? 0)x\(d["height"] ?? 0)  enabled " : "-          disabled"
            line += "  frame \(d["frame_counter"] ?? 0)"
            if let ms = d["ms_since_last_damage"] as? Int { line += "  last damage \(ms) ms ago" }
            print(line)
        }
    }
}

struct Screenshot: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Save a display's picture (PNG, or PPM for .ppm).")
    @OptionGroup var server: ServerOptions

    @Option(name: .shortAndLong, help: "Output file (.png or .ppm; - for stdout).", completion: .file(extensions: ["png", "ppm"]))
    var output: String

    @Option(name: .customLong("wait-settled"), help: "First wait until the display had no damage for this long (e.g. 500ms).")
    var waitSettled: String?

    @Option(name: .customLong("after-frame"), help: "First wait for a frame past this frame counter.")
    var afterFrame: UInt64?

    @Option(name: .long, help: "How long to wait at most (default 30s).")
    var timeout: String = "30s"

    @Option(name: .long, help: "Only this part: x,y,width,height.")
    var region: String?

    @Flag(name: .long, help: "Draw the guest's cursor into the picture.")
    var cursor = false

    @Option(name: .customLong("compression"), help: "PNG preset: fast, compact or small (default: the server's --png-compression).")
    var compression: String?

    func validate() throws {
        try server.validateDisplay()
        if let compression, !["fast", "compact", "small"].contains(compression) {
            throw ValidationError("--compression \(compression): expected fast, compact or small")
        }
        if let waitSettled { _ = try parseDuration(waitSettled, option: "--wait-settled") }
        _ = try parseDuration(timeout, option: "--timeout")
        if let region { _ = try checkRect(region, option: "--region") }
    }

    func run() throws {
        let client = try server.client()
        let timeoutMs = try parseDuration(timeout, option: "--timeout")
        var query: [(String, String)] = []
        if let waitSettled { query += [("wait", "settled"), ("quiet_ms", String(max(1, try parseDuration(waitSettled, option: "--wait-settled"))))] }
        if let afterFrame { query.append(("after_frame", String(afterFrame))) }
        if waitSettled != nil || afterFrame != nil { query.append(("timeout_ms", String(timeoutMs))) }
        if let region { query.append(("region", region)) }
        if cursor { query.append(("cursor", "true")) }
        if let compression { query.append(("compression", compression)) }
        let ext = output.lowercased().hasSuffix(".ppm") ? "ppm" : "png"
        let reply = try perform(client, "GET", "/v1/displays/\(server.display)/screenshot.\(ext)\(queryString(query))",
                                timeout: Double(timeoutMs) / 1000 + 15, json: server.json)
        try write(reply.body, to: output)
        if server.json {
            print(#"{"file":"\#(output)","bytes":\#(reply.body.count),"frame_counter":\#(reply.headers["x-vireo-frame-counter"] ?? "null")}"#)
        }
    }
}

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare a display with a reference PNG. Exit 0 on match, 1 on mismatch.")
    @OptionGroup var server: ServerOptions

    @Argument(help: "Reference PNG (the display's size, or the region's).", completion: .file(extensions: ["png"]))
    var reference: String

    @Option(name: .long, help: "Ignore this rectangle x,y,width,height (repeatable).")
    var mask: [String] = []

    @Option(name: .long, help: "DELTA[,PIXELS|,PERCENT%]: per-channel delta 0...255 and how many pixels may differ (e.g. 8,0.5%).")
    var tolerance: String?

    @Option(name: .long, help: "Compare only this part of the display: x,y,width,height.")
    var region: String?

    @Option(name: .customLong("wait-settled"), help: "First wait until the display had no damage for this long (e.g. 500ms).")
    var waitSettled: String?

    @Option(name: .long, help: "How long to wait at most (default 30s).")
    var timeout: String = "30s"

    @Option(name: .long, help: "Write a diff PNG here (differing pixels red, masked ones blue).", completion: .file(extensions: ["png"]))
    var diff: String?

    @Flag(name: .long, help: "Draw the guest's cursor into the picture first.")
    var cursor = false

    func validate() throws {
        try server.validateDisplay()
        for m in mask { _ = try checkRect(m, option: "--mask") }
        if let region { _ = try checkRect(region, option: "--region") }
        _ = try toleranceQuery(tolerance)
        if let waitSettled { _ = try parseDuration(waitSettled, option: "--wait-settled") }
        _ = try parseDuration(timeout, option: "--timeout")
    }

    func run() throws {
        let client = try server.client()
        let png = try readPNG(reference)
        let timeoutMs = try parseDuration(timeout, option: "--timeout")
        var query = try toleranceQuery(tolerance) + mask.map { ("mask", $0) }
        if let region { query.append(("region", region)) }
        if let waitSettled {
            query += [("wait", "settled"), ("quiet_ms", String(max(1, try parseDuration(waitSettled, option: "--wait-settled")))),
                      ("timeout_ms", String(timeoutMs))]
        }
        if diff != nil { query.append(("diff", "true")) }
        if cursor { query.append(("cursor", "true")) }
        let reply = try perform(client, "POST", "/v1/displays/\(server.display)/compare\(queryString(query))", body: png,
                                timeout: Double(timeoutMs) / 1000 + 30, json: server.json)
        guard let verdict = reply.json, let match = verdict["match"] as? Bool else {
            throw Failure(code: Exit.failure, message: "unexpected answer: \(reply.text.prefix(200))")
        }
        if let diff, let b64 = verdict["diff_png"] as? String, let data = Data(base64Encoded: b64) {
            try write([UInt8](data), to: diff)
        }
        if server.json {
            var shown = verdict
            shown["diff_png"] = nil
            let data = try JSONSerialization.data(withJSONObject: shown, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            let differing = verdict["differing_pixels"] as? Int ?? -1
            var line = match ? "match" : "MISMATCH"
            line += ": \(differing) of \(verdict["compared_pixels"] ?? 0) pixels differ (allowed \(verdict["allowed_differing_pixels"] ?? 0))"
            if let box = verdict["difference_box"] as? [String: Any] {
                line += ", in \(box["width"] ?? 0)x\(box["height"] ?? 0) at \(box["x"] ?? 0),\(box["y"] ?? 0)"
            }
            print(line)
        }
        if !match { throw ExitCode(Exit.mismatch) }
    }
}

struct WaitFor: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait-for",
        abstract: "Wait until a needle PNG appears on a display. Exit 0 when found, 3 on timeout.")
    @OptionGroup var server: ServerOptions

    @Argument(help: "Needle PNG (what to find).", completion: .file(extensions: ["png"]))
    var needle: String

    @Option(name: .long, help: "How long to wait at most (e.g. 30s).")
    var timeout: String = "30s"

    @Option(name: .long, help: "Search only here: x,y,width,height.")
    var area: String?

    @Option(name: .customLong("needle-region"), help: "Use only this part of the needle PNG: x,y,width,height.")
    var needleRegion: String?

    @Option(name: .long, help: "DELTA[,PIXELS|,PERCENT%] as for compare.")
    var tolerance: String?

    @Option(name: .customLong("save-last"), help: "On timeout, save the last screenshot the server looked at here.",
            completion: .file(extensions: ["png"]))
    var saveLast: String?

    @Flag(name: .long, help: "Draw the guest's cursor into the picture first.")
    var cursor = false

    func validate() throws {
        try server.validateDisplay()
        _ = try parseDuration(timeout, option: "--timeout")
        if let area { _ = try checkRect(area, option: "--area") }
        if let needleRegion { _ = try checkRect(needleRegion, option: "--needle-region") }
        _ = try toleranceQuery(tolerance)
    }

    func run() throws {
        let client = try server.client()
        let png = try readPNG(needle)
        let timeoutMs = try parseDuration(timeout, option: "--timeout")
        var query = try toleranceQuery(tolerance) + [("timeout_ms", String(timeoutMs))]
        if let area { query.append(("area", area)) }
        if let needleRegion { query.append(("needle_region", needleRegion)) }
        if cursor { query.append(("cursor", "true")) }
        let reply: HTTPReply
        do {
            reply = try perform(client, "POST", "/v1/displays/\(server.display)/wait-for\(queryString(query))", body: png,
                                timeout: Double(timeoutMs) / 1000 + 30, json: server.json)
        } catch let failure as Failure where failure.code == Exit.timeout {
            if let saveLast, let range = failure.message.range(of: "(last screenshot: \(client.display)") {
                let path = failure.message[range.upperBound...].dropLast()
                if let shot = try? client.request("GET", String(path), timeout: 15), shot.status == 200 {
                    try write(shot.body, to: saveLast)
                }
            }
            throw failure
        }
        if server.json {
            print(reply.text)
        } else if let j = reply.json {
            print("found at \(j["x"] ?? 0),\(j["y"] ?? 0) (\(j["width"] ?? 0)x\(j["height"] ?? 0)) after \(j["waited_ms"] ?? 0) ms")
        }
    }
}
