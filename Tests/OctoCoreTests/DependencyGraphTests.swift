import OctoCore
import Testing

/// The `needs` graph, without a database.
struct DependencyGraphTests {
    /// extract → clean → (load, report); load → publish; report needs publish too.
    static let pipeline = DependencyGraph([
        "extract": [], "clean": ["extract"], "load": ["clean"], "report": ["clean", "publish"], "publish": ["load"]
    ])

    @Test func anAcyclicGraphHasNoCycleAndAnOrderAfterEveryNeed() throws {
        #expect(Self.pipeline.cycle == nil)
        let order = try #require(Self.pipeline.order)
        #expect(order == ["extract", "clean", "load", "publish", "report"])
        for (job, needs) in Self.pipeline.needs {
            for n in needs { #expect(order.firstIndex(of: n)! < order.firstIndex(of: job)!, "\(n) before \(job)") }
        }
    }

    @Test func upstreamAndDownstreamAreTransitive() {
        #expect(Self.pipeline.upstream(of: "report") == ["clean", "extract", "load", "publish"])
        #expect(Self.pipeline.downstream(of: "clean") == ["load", "publish", "report"])
        #expect(Self.pipeline.downstream(of: "report") == [])
        #expect(Self.pipeline.upstream(of: "extract") == [])
    }

    @Test(arguments: [
        (["a": ["a"]], ["a", "a"]),
        (["load": ["clean"], "clean": ["load"]], ["clean", "load", "clean"]),
        (["a": [], "b": ["a", "d"], "c": ["b"], "d": ["c"]], ["b", "d", "c", "b"])
    ])
    func aCycleIsNamedAsThePathThatClosesIt(_ needs: [String: [String]], _ cycle: [String]) {
        let g = DependencyGraph(needs)
        #expect(g.cycle == cycle)
        #expect(g.order == nil)
    }

    @Test func theRefusalWritesTheCycleWithArrows() {
        #expect(DependencyGraph.text(["load", "clean", "load"]) == "load → clean → load")
    }

    @Test func needsNamingNoJobAreListed() {
        let g = DependencyGraph(["a": ["ghost", "b"], "b": [], "c": ["nope"]])
        #expect(g.unknownNeeds.map { "\($0.job)→\($0.need)" } == ["a→ghost", "c→nope"])
        #expect(g.cycle == nil && g.order == ["b", "a", "c"])
    }
}
