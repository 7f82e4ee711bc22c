import Foundation

/// The standard Prometheus process metrics (`process_*`, as the Go and Java clients export them),
/// read from `/proc/self` at scrape time. Off Linux the values are absent and nothing is written.
struct ProcessMetrics {
    var cpuSeconds: Double?
    var residentBytes: Int?
    var virtualBytes: Int?
    var startTime: Double?
    var openFDs: Int?
    var maxFDs: Int?

    static func read() -> ProcessMetrics {
        var m = ProcessMetrics()
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = sysconf(Int32(_SC_PAGESIZE))
        // utime (field 14), stime 15, starttime 22, vsize 23, rss 24
        if let f = ProcStat.fields() {
            if f.count > 21, let ut = Double(f[11]), let st = Double(f[12]), let start = Double(f[19]), let vs = Int(f[20]), let rss = Int(f[21]), ticks > 0 {
                m.cpuSeconds = (ut + st) / ticks
                m.virtualBytes = vs
                m.residentBytes = rss * page
                if let bootTime = Self.bootTime() { m.startTime = bootTime + start / ticks }
            }
        }
        if let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") { m.openFDs = fds.count }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { m.maxFDs = Int(clamping: limit.rlim_cur) }
        return m
    }

    static func bootTime() -> Double? {
        guard let s = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        for line in s.split(separator: "\n") where line.hasPrefix("btime ") { return Double(line.dropFirst(6)) }
        return nil
    }

    /// Prometheus text, one family per value present.
    func text() -> [UInt8] {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ value: String?) {
            guard let value else { return }
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n"
        }
        family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", cpuSeconds.map { "\($0)" })
        family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", residentBytes.map { "\($0)" })
        family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", virtualBytes.map { "\($0)" })
        family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", startTime.map { "\($0)" })
        family("process_open_fds", "gauge", "Number of open file descriptors.", openFDs.map { "\($0)" })
        family("process_max_fds", "gauge", "Maximum number of open file descriptors.", maxFDs.map { "\($0)" })
        return Array(out.utf8)
    }
}
