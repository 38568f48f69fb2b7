#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The standard `process_*` metrics, read from `/proc/self` at scrape time, as Prometheus's own
/// client libraries export them.
public enum ProcessMetrics {
    /// Prometheus text for the process, empty where `/proc` is not available.
    public static func render() -> String {
        guard let stat = read("/proc/self/stat") else { return "" }
        // Fields after the parenthesised command name, which may itself contain spaces.
        guard let close = stat.lastIndex(of: ")") else { return "" }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state): field n is fields[n - 3].
        func field(_ number: Int) -> Double? {
            fields.count > number - 3 ? Double(fields[number - 3]) : nil
        }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        var text = ""
        if let user = field(14), let system = field(15) {
            text += metric(
                "process_cpu_seconds_total",
                "counter",
                "Total user and system CPU time spent in seconds.",
                (user + system) / ticks
            )
        }
        if let rss = field(24) {
            text += metric("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", rss * pageSize)
        }
        if let virtual = field(23) {
            text += metric("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", virtual)
        }
        if let start = field(22), let boot = bootTime() {
            text += metric(
                "process_start_time_seconds",
                "gauge",
                "Start time of the process since unix epoch in seconds.",
                boot + start / ticks
            )
        }
        if let open = openFileDescriptors() {
            text += metric("process_open_fds", "gauge", "Number of open file descriptors.", Double(open))
        }
        if let limit = maxFileDescriptors() {
            text += metric("process_max_fds", "gauge", "Maximum number of open file descriptors.", limit)
        }
        return text
    }

    private static func metric(_ name: String, _ type: String, _ help: String, _ value: Double) -> String {
        let formatted = value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        return "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(formatted)\n"
    }

    private static func bootTime() -> Double? {
        guard let stat = read("/proc/stat") else { return nil }
        for line in stat.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingCharacters())
        }
        return nil
    }

    private static func maxFileDescriptors() -> Double? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        return Double(limit.rlim_cur)
    }

    private static func openFileDescriptors() -> Int? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { name in
                name[0] == UInt8(ascii: ".") && (name[1] == 0 || (name[1] == UInt8(ascii: ".") && name[2] == 0))
            }
            if !isDot { count += 1 }
        }
        // The directory stream itself holds one descriptor while counting.
        return count - 1
    }

    private static func read(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Substring {
    fileprivate func trimmingCharacters() -> Substring {
        var result = self
        while let first = result.first, first == " " { result.removeFirst() }
        while let last = result.last, last == " " || last == "\n" { result.removeLast() }
        return result
    }
}
