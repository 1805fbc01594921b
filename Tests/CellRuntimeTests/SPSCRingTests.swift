import CellRuntime
import Testing

@Suite struct SPSCRingTests {
    @Test func fifoOrderAndCapacity() {
        let ring = SPSCRing<Int>(minimumCapacity: 3)
        #expect(ring.capacity == 4)
        for value in 0..<4 { #expect(ring.push(value)) }
        #expect(!ring.push(99), "a full ring refuses and keeps its contents")
        for value in 0..<4 { #expect(ring.pop() == value) }
        #expect(ring.pop() == nil)
    }

    @Test func popLatestDropsOlderAndCountsThem() {
        let ring = SPSCRing<Int>(minimumCapacity: 8)
        for value in 1...5 { ring.push(value) }
        var skipped = 0
        #expect(ring.popLatest(skipped: &skipped) == 5)
        #expect(skipped == 4)
        #expect(ring.popLatest(skipped: &skipped) == nil)
    }

    @Test func twoThreadsTransferEveryValueInOrder() async {
        let ring = SPSCRing<Int>(minimumCapacity: 64)
        let count = 200_000
        let producer = Task.detached {
            var value = 0
            while value < count {
                if ring.push(value) { value += 1 }
            }
        }
        var expected = 0
        var ordered = true
        while expected < count {
            if let value = ring.pop() {
                if value != expected { ordered = false }
                expected += 1
            }
        }
        await producer.value
        #expect(ordered)
        #expect(ring.pop() == nil)
    }
}
