// PNGOptions: the zlib level, row filter and zlib strategy used by PNGEncoder, with measured presets.

/// PNG row filters (PNG spec 9.2); `adaptive` chooses among all five per row (slower); `screen` chooses per row
/// among NONE, SUB and UP, the three the encoder computes straight from BGRX (CPNG_FILTER_SCREEN).
public enum PNGFilter: Int32, Sendable, CaseIterable {
    case none = 0, sub = 1, up = 2, average = 3, paeth = 4, adaptive = 5, screen = 6
}

/// zlib strategies. `rle` only looks for runs, which is what filtered screen content mostly is.
public enum PNGStrategy: Int32, Sendable, CaseIterable {
    case `default` = 0, filtered = 1, huffmanOnly = 2, rle = 3
}

public struct PNGOptions: Sendable, Equatable {
    /// zlib level 0...9.
    public var zlibLevel: Int
    public var filter: PNGFilter
    public var strategy: PNGStrategy
    /// Threads that deflate strips of rows in parallel, the caller's included: 0 = one per CPU the process may run
    /// on (at most 16); 1 = one stream on the calling thread. Small images use fewer. Negative values are refused.
    public var threads: Int

    public init(zlibLevel: Int, filter: PNGFilter, strategy: PNGStrategy = .rle, threads: Int = 0) {
        self.zlibLevel = zlibLevel; self.filter = filter; self.strategy = strategy; self.threads = threads
    }

    /// For live screenshots. Measured at 1920x1080 on 2 cores (release, png-bench, best of 5 medians of 15, the
    /// strip encoder on both cores): 5.4 ms wall (10 ms CPU over both) and 145 KB on a text-heavy desktop, 4.1 ms and 90 KB
    /// on a sparse one, 8.6 ms on noise (stored once a batch does not shrink); libpng's encoder took 14.5, 13.2 and
    /// 42.9 ms. Level 1 with filter NONE and the default strategy is about as fast on desktops (4.3 ms, 152 KB) but
    /// searches for matches it never finds on noise and photos (21 ms), so RLE after SUB stays the live default.
    public static let fast = PNGOptions(zlibLevel: 1, filter: .sub, strategy: .rle)
    /// Screenshots' default: zlib 6 (lazy matching, which finds the repeats of bars, ramps and text that RLE's
    /// distance-1 runs miss) after the per-row NONE/SUB/UP choice, with a longer match search on nearly flat rows.
    /// On the test guest's bars and ramps 4,952 bytes on 2 threads, as QEMU's screendump (libpng, zlib 6,
    /// adaptive), where `.fast` gives 139 KB; on a 1080p desktop within 1.5 % of `.small` at about 70 % of its CPU
    /// (png-bench, docs/png-encoder.md).
    public static let compact = PNGOptions(zlibLevel: 6, filter: .screen, strategy: .default)
    /// For saved pictures: zlib 6 and adaptive filters (libpng's defaults and its per-row heuristic), several times
    /// slower, smallest files.
    public static let small = PNGOptions(zlibLevel: 6, filter: .adaptive, strategy: .default)

    /// The presets by name (`compression=` of the HTTP API, `--png-compression`).
    public static let presets: [(name: String, options: PNGOptions)] = [("fast", .fast), ("compact", .compact), ("small", .small)]
    public static func preset(named name: String) -> PNGOptions? { presets.first { $0.name == name }?.options }
}
