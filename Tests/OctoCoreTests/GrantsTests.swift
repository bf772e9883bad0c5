import OctoTime
import Testing

@testable import OctoCore

/// `SHOW GRANTS` lines as MariaDB 10.11 prints them, read for database `octo_1`.
struct GrantsTests {
    @Test func eachKindOfGrantCountsWhereItApplies() {
        let g = Grants(
            showGrants: [
                "GRANT `octo_worker` TO `w`@`%`",  // a role: its grants are listed on their own lines
                "GRANT USAGE ON *.* TO `w`@`%` IDENTIFIED BY PASSWORD '*00'",
                "GRANT PROCESS ON *.* TO `octo_worker`",
                "GRANT SELECT, INSERT ON `octo_1`.* TO `octo_worker`",
                "GRANT UPDATE ON `octo\\_%`.* TO `w`@`%`",  // a pattern that matches octo_1
                "GRANT DELETE ON `other`.* TO `w`@`%`",  // another database
                "GRANT DELETE ON `octo1`.* TO `w`@`%`",  // no wildcard: not octo_1
                "GRANT ALTER, DROP ON `octo_1`.`logs` TO `w`@`%`",
                // column grants: no table privilege
                "GRANT SELECT (`name`), INSERT (`name`) ON `octo_1`.`jobs` TO `w`@`%`",
                "GRANT EXECUTE ON PROCEDURE `octo_1`.`p` TO `w`@`%`",
                "GRANT PROXY ON ''@'%' TO `w`@`%` WITH GRANT OPTION",
                "SET DEFAULT ROLE `octo_worker` FOR `w`@`%`"
            ], database: "octo_1")
        #expect(g.global == ["USAGE", "PROCESS"])
        #expect(g.database == ["SELECT", "INSERT", "UPDATE"])
        #expect(g.tables == ["logs": ["ALTER", "DROP"]])
        #expect(g.allows("UPDATE", on: "runs") && !g.allows("DELETE", on: "runs"))
        #expect(g.allows("DROP", on: "logs") && !g.allows("DROP", on: "runs") && !g.allows("DROP"))
    }

    @Test func allPrivilegesAnywhereCoversEverything() {
        let root = Grants(
            showGrants: ["GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"], database: "x")
        #expect(root.allows("DELETE", on: "runs") && root.allows("CREATE"))
        let admin = Grants(showGrants: ["GRANT ALL PRIVILEGES ON `x`.* TO `a`@`%`"], database: "x")
        #expect(admin.allows("ALTER", on: "logs") && admin.allows("INDEX"))
        let elsewhere = Grants(showGrants: ["GRANT ALL PRIVILEGES ON `y`.* TO `a`@`%`"], database: "x")
        #expect(!elsewhere.allows("SELECT", on: "runs"))
    }

    /// With a host list, an account whose writes pass `read_only` fails the check (split brain after a
    /// switchover); with one server it does not matter (a developer's root account is fine).
    @Test func anAccountThatWritesThroughReadOnlyFailsWithAHostList() {
        let worker = "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, DROP, INDEX ON `x`.* TO `octo`@`%`"
        func check(_ lines: [String], hostList: Bool) -> DoctorCheck {
            Doctor.privileges(
                Grants(showGrants: lines, database: "x"), currentUser: "octo@%", grantee: "'octo'@'%'",
                database: "x", hostList: hostList)
        }
        for (extra, name) in [
            ("GRANT READ_ONLY ADMIN ON *.* TO `octo`@`%`", "READ_ONLY ADMIN"),
            ("GRANT SUPER ON *.* TO `octo`@`%`", "SUPER"),
            ("GRANT ALL PRIVILEGES ON *.* TO `octo`@`%`", "ALL PRIVILEGES")
        ] {
            let failed = check([worker, extra], hostList: true)
            #expect(failed.status == .fail && failed.detail.contains("has \(name) on *.*"), "\(failed)")
            #expect(check([worker, extra], hostList: false).status == .ok)
        }
        #expect(check([worker], hostList: true).status == .ok)
    }

    @Test func quotedNamesAndPatterns() {
        #expect(Grants.parse("GRANT SELECT ON `we``ird`.`t``1` TO `u`@`h`")! == (["SELECT"], .table("we`ird", "t`1")))
        #expect(Grants.parse("GRANT SELECT ON `a ON b`.* TO `u`@`h`")?.target == .database("a ON b"))
        #expect(Grants.parse("GRANT SELECT ON `unterminated TO `u`@`h`") == nil)
        #expect(Grants.like("octo\\_%", "octo_prod") && !Grants.like("octo\\_%", "octoXprod"))
        #expect(Grants.like("oc_o", "octo") && Grants.like("%", "") && !Grants.like("octo", "octo2"))
    }
}
