import OctoCore
import OctoTime

/// Charts drawn by the server as SVG (no script, no library): JobCenter's trend chart — one mark per run,
/// duration up, time across, outcome by colour and shape — and the overview's sparklines.
public enum Charts {
    public struct Mark: Sendable, Equatable {
        public var at: Instant
        public var seconds: Double
        public var state: Run.State
        public var runID: Int64
        public init(at: Instant, seconds: Double, state: Run.State, runID: Int64) {
            (self.at, self.seconds, self.state, self.runID) = (at, seconds, state, runID)
        }
    }

    /// The marks of finished runs (and running ones, to now), oldest first.
    public static func marks(_ runs: [Run], now: Instant) -> [Mark] {
        runs.compactMap { r -> Mark? in
            guard let s = r.startedAt, r.state != .queued, r.state != .waiting else { return nil }
            return Mark(at: s, seconds: max(0, ((r.endedAt ?? now) - s).seconds), state: r.state, runID: r.id)
        }.sorted { $0.at < $1.at }
    }

    /// The class (colour) and shape of a run's outcome, as the legend shows them.
    static func style(_ s: Run.State) -> (cls: String, shape: String) {
        switch s {
        case .succeeded, .passed: ("ok", "circle")
        case .failed, .lost: ("fail", "cross")
        case .timeout: ("timeout", "triangle")
        case .running: ("running", "diamond")
        default: ("other", "square")
        }
    }

    static func n(_ v: Double) -> String {
        let r = (v * 10).rounded() / 10
        return r == r.rounded() ? String(Int(r)) : String(r)
    }

    /// The trend chart: `width`×`height` with axes, a scale in seconds, the median as a line, and a legend.
    /// Each mark links to its run and has a title (state, duration, start). Zoom is the page's time range.
    public static func trend(
        _ marks: [Mark], from: Instant, to: Instant, zone: Zone, width: Int = 720, height: Int = 240
    ) -> String {
        let marks = marks.filter { $0.at >= from && $0.at <= to }
        let left = 56.0
        let right = 12.0
        let top = 12.0
        let bottom = 28.0
        let w = Double(width) - left - right
        let h = Double(height) - top - bottom
        let span = max(1, (to - from).seconds)
        let top100 = niceCeiling(max(marks.map(\.seconds).max() ?? 1, 1))
        func x(_ t: Instant) -> Double { left + w * min(1, max(0, (t - from).seconds / span)) }
        func y(_ s: Double) -> Double { top + h * (1 - min(1, s / top100)) }
        var svg =
            "<svg class=\"trend\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-label=\"Duration of each run\" xmlns=\"http://www.w3.org/2000/svg\">"
        svg += "<rect class=\"frame\" x=\"\(n(left))\" y=\"\(n(top))\" width=\"\(n(w))\" height=\"\(n(h))\"/>"
        for i in 0...4 {
            let v = top100 * Double(i) / 4
            svg += "<line class=\"grid\" x1=\"\(n(left))\" x2=\"\(n(left + w))\" y1=\"\(n(y(v)))\" y2=\"\(n(y(v)))\"/>"
            svg +=
                "<text class=\"tick\" x=\"\(n(left - 4))\" y=\"\(n(y(v) + 4))\" text-anchor=\"end\">\(html(durationText(v)))</text>"
        }
        svg +=
            "<text class=\"tick\" x=\"\(n(left))\" y=\"\(height - 8)\">\(html(zone.format(from)))</text>"
        svg +=
            "<text class=\"tick\" x=\"\(n(left + w))\" y=\"\(height - 8)\" text-anchor=\"end\">\(html(zone.format(to)))</text>"
        if let m = Trend.median(marks.map(\.seconds)) {
            svg += "<line class=\"median\" x1=\"\(n(left))\" x2=\"\(n(left + w))\" y1=\"\(n(y(m)))\" y2=\"\(n(y(m)))\">"
            svg += "<title>median \(html(durationText(m)))</title></line>"
        }
        for m in marks {
            let (cls, shape) = style(m.state)
            let cx = x(m.at)
            let cy = y(m.seconds)
            svg += "<a href=\"/runs/\(m.runID)\"><g class=\"mark \(cls)\" data-state=\"\(m.state.rawValue)\">"
            svg +=
                "<title>run \(m.runID): \(m.state.rawValue), \(html(durationText(m.seconds))), started \(html(zone.format(m.at)))</title>"
            svg += shapePath(shape, cx, cy)
            svg += "</g></a>"
        }
        svg += "</svg>"
        return svg
    }

    /// A small line of the last runs' durations, failures as red dots.
    public static func sparkline(_ marks: [Mark], width: Int = 120, height: Int = 24) -> String {
        guard !marks.isEmpty else { return "" }
        let top100 = max(marks.map(\.seconds).max() ?? 1, 0.001)
        let step = marks.count > 1 ? Double(width - 4) / Double(marks.count - 1) : 0
        func pt(_ i: Int) -> (Double, Double) {
            (2 + step * Double(i), 2 + Double(height - 4) * (1 - marks[i].seconds / top100))
        }
        var svg =
            "<svg class=\"spark\" viewBox=\"0 0 \(width) \(height)\" width=\"\(width)\" height=\"\(height)\" role=\"img\" aria-label=\"Durations of the last \(marks.count) runs\" xmlns=\"http://www.w3.org/2000/svg\">"
        svg += "<polyline points=\""
        svg += marks.indices.map { i in
            let (a, b) = pt(i)
            return "\(n(a)),\(n(b))"
        }.joined(separator: " ")
        svg += "\"/>"
        for i in marks.indices where style(marks[i].state).cls != "ok" {
            let (a, b) = pt(i)
            svg += "<circle class=\"\(style(marks[i].state).cls)\" cx=\"\(n(a))\" cy=\"\(n(b))\" r=\"2.5\"/>"
        }
        return svg + "</svg>"
    }

    static func shapePath(_ shape: String, _ x: Double, _ y: Double) -> String {
        let r = 4.5
        switch shape {
        case "circle": return "<circle cx=\"\(n(x))\" cy=\"\(n(y))\" r=\"\(n(r))\"/>"
        case "cross":
            return
                "<path d=\"M\(n(x - r)) \(n(y - r))L\(n(x + r)) \(n(y + r))M\(n(x - r)) \(n(y + r))L\(n(x + r)) \(n(y - r))\"/>"
        case "triangle":
            return "<path d=\"M\(n(x)) \(n(y - r))L\(n(x + r)) \(n(y + r))L\(n(x - r)) \(n(y + r))Z\"/>"
        case "diamond":
            return "<path d=\"M\(n(x)) \(n(y - r))L\(n(x + r)) \(n(y))L\(n(x)) \(n(y + r))L\(n(x - r)) \(n(y))Z\"/>"
        default: return "<rect x=\"\(n(x - r))\" y=\"\(n(y - r))\" width=\"\(n(2 * r))\" height=\"\(n(2 * r))\"/>"
        }
    }

    /// 1, 2 or 5 times a power of ten, at least `v`.
    static func niceCeiling(_ v: Double) -> Double {
        var p = 0.001
        while true {
            for m in [1.0, 2, 5] where m * p >= v { return m * p }
            p *= 10
        }
    }
}

/// Seconds as people read them: 850 ms, 4.2 s, 3 min 20 s, 2 h 5 min.
public func durationText(_ s: Double) -> String {
    if s < 1 { return "\(Int((s * 1000).rounded())) ms" }
    if s < 60 { return "\(Charts.n(s)) s" }
    if s < 3600 { return "\(Int(s) / 60) min \(Int(s) % 60) s" }
    return "\(Int(s) / 3600) h \(Int(s) % 3600 / 60) min"
}

/// Escapes text for HTML (element content and quoted attributes).
public func html(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.utf8.count)
    for c in s.unicodeScalars {
        switch c {
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "&": out += "&amp;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.unicodeScalars.append(c)
        }
    }
    return out
}
