import OctoCore
import OctoTime
import Testing

struct DurationTests {
    @Test(
        arguments: [
            ("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86_400), ("1h30m", 5400), ("0", 0), (" 3d ", 259_200),
            ("1D", 86_400)
        ] as [(String, Int64)])
    func parses(_ text: String, _ seconds: Int64) throws {
        #expect(try Durations.parse(text) == seconds)
    }

    @Test(arguments: ["", "-5m", "5", "m", "5x", "1.5h", "5m5", "99999999999999999999s", "1000000d"])
    func rejects(_ text: String) {
        let e = #expect(throws: OctoError.self) { try Durations.parse(text, what: "timeout") }
        #expect(e?.exitCode == 2)
        #expect(e?.message.hasPrefix("invalid timeout '\(text)'") == true)
    }

    @Test(
        arguments: [(0, "0"), (90, "1m30s"), (900, "15m"), (5400, "1h30m"), (86_400, "1d"), (90_061, "1d1h1m1s")]
            as [(Int64, String)])
    func formatsAndRoundTrips(_ seconds: Int64, _ text: String) throws {
        #expect(Durations.format(seconds) == text)
        #expect(try Durations.parse(text) == seconds)
    }
}

struct SettingsTests {
    @Test func defaultsMatchTheDesign() {
        let s = Settings()
        let shown = Dictionary(uniqueKeysWithValues: Settings.keys.map { ($0.name, s.value(of: $0)) })
        #expect(
            shown == [
                "default_tz": "UTC", "log_retention": "3d", "run_retention": "30d", "audit_retention": "365d",
                "lease": "1m", "heartbeat": "10s",
                "machine_ttl": "3m", "misfire_threshold": "1m", "alert_merge_window": "5m", "alert_command": "",
                "needs_timeout": "1d"
            ])
    }

    @Test func validatesValues() throws {
        var s = Settings()
        try s.set(#require(Settings.key("lease")), "2m")
        #expect(s.lease == 120)
        try s.set(#require(Settings.key("default_tz")), "Australia/Lord_Howe")
        #expect(s.defaultTimezone == "Australia/Lord_Howe")
        #expect(throws: OctoError.self) { try s.set(#require(Settings.key("default_tz")), "Mars/Olympus") }
        #expect(throws: OctoError.self) { try s.set(#require(Settings.key("default_tz")), "../../etc/passwd") }
        // files in zoneinfo that differ between machines or from cron's wall clock: refused by name
        for name in ["localtime", "right/Europe/London", "posixrules", "Factory"] {
            let e = #expect(throws: OctoError.self) { try s.set(#require(Settings.key("default_tz")), name) }
            #expect(e?.message.contains("the same on every machine") == true, "\(e?.message ?? "")")
        }
        #expect(s.defaultTimezone == "Australia/Lord_Howe")
        // a stored value an older octo accepted is read back as it is (not silently UTC)
        try s.set(#require(Settings.key("default_tz")), "localtime", given: false)
        #expect(s.defaultTimezone == "localtime")
        #expect(throws: OctoError.self) { try s.set(#require(Settings.key("lease")), "soon") }
        let e = #expect(throws: OctoError.self) { try s.set(#require(Settings.key("heartbeat")), "90s") }
        #expect(e?.message.contains("half the lease") == true)
        #expect(s.heartbeat == 10, "a refused value changes nothing")
    }

    @Test func localZoneComesFromTZ() {
        #expect(Zone.localName(environment: ["TZ": "America/New_York"]) == "America/New_York")
        #expect(Zone.localName(environment: ["TZ": ":Europe/London"]) == "Europe/London")
        // init's default_tz: never a zone that differs between machines
        let fromLink = Zone.definableLocalName(environment: ["TZ": "localtime"])
        #expect(fromLink != "localtime" && (try? Zone.definable(fromLink)) != nil, "\(fromLink)")
        #expect(fromLink == Zone.definableLocalName(environment: [:]))
        if Zone.isKnown("right/Asia/Tokyo") {  // tzdata-legacy holds right/ on newer Debian
            #expect(Zone.localName(environment: ["TZ": "right/Asia/Tokyo"]) == "right/Asia/Tokyo", "the logger's zone")
            #expect(Zone.definableLocalName(environment: ["TZ": "right/Asia/Tokyo"]) == "Asia/Tokyo")
        }
        #expect(Zone.isKnown("Asia/Shanghai"))
        #expect(!Zone.isKnown("Asia/Atlantis"))
    }
}
