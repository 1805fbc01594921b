import CAllocationCounter
import CPolicyKernel
import Foundation
import Testing

/// The forward pass against the JAX golden vectors on every SIMD path, fixture and weight variant; threads,
/// determinism, input validation, allocation-free inference.
@Suite struct ForwardTests {
    @Test("golden parity: every path × fixture × variant", arguments: KernelFixtures.names)
    func parity(name: String) throws {
        let config = try KernelFixtures.config(name)
        let cases = try goldenCases(name)
        for (variant, path) in try KernelFixtures.variants(name) {
            for isa in KernelFixtures.isas {
                let session = try KernelSession(path: path, config: config, isa: isa)
                #expect(pk_model_isa(session.model) == isa)
                #expect(
                    String(cString: pk_weights_name(pk_model_weights(session.model)))
                        == (variant == "fp32" ? "f32" : variant)
                )
                for c in cases {
                    let out = try session.forward(c)
                    let own = try #require(c.expected[variant])
                    let fp32 = try #require(c.expected["fp32"])
                    let error = maxAbsDifference(out, own)
                    #expect(
                        error <= 1e-4,
                        "\(name) \(variant) \(String(cString: pk_isa_name(isa))) case \(c.index): \(error)"
                    )
                    let bound = (KernelFixtures.variantBounds[variant] ?? 0) + 1e-4
                    let toFp32 = maxAbsDifference(out, fp32)
                    #expect(toFp32 <= bound, "\(name) \(variant) vs fp32 case \(c.index): \(toFp32) > \(bound)")
                }
            }
        }
    }

    @Test("two threads are bit-identical to one on the same path", arguments: KernelFixtures.names)
    func twoThreads(name: String) throws {
        let config = try KernelFixtures.config(name)
        let cases = try goldenCases(name)
        for (_, path) in try KernelFixtures.variants(name) {
            for isa in KernelFixtures.isas {
                let one = try KernelSession(path: path, config: config, isa: isa, threads: 1)
                let two = try KernelSession(path: path, config: config, isa: isa, threads: 2)
                #expect(pk_model_threads(two.model) == 2)
                for c in cases {
                    #expect(bitPatterns(try one.forward(c)) == bitPatterns(try two.forward(c)))
                }
            }
        }
    }

    @Test("repeated runs are bit-identical, whatever ran in between", arguments: KernelFixtures.names)
    func determinism(name: String) throws {
        let config = try KernelFixtures.config(name)
        let cases = try goldenCases(name)
        for isa in KernelFixtures.isas {
            let session = try KernelSession(path: KernelFixtures.modelPath(name), config: config, isa: isa)
            let first = try cases.map { try session.forward($0) }
            for c in cases.reversed() {
                #expect(bitPatterns(try session.forward(c)) == bitPatterns(first[c.index]))
            }
        }
    }

    @Test func invalidInputs() throws {
        let name = "tiny"
        let config = try KernelFixtures.config(name)
        let session = try KernelSession(path: KernelFixtures.modelPath(name), config: config)
        let good = try #require(try goldenCases(name).first)
        #expect(session.run(good.input).0 == PK_OK)

        func expectFailure(_ input: pk_input, _ status: pk_status, _ fragment: String) {
            let (got, _) = session.run(input)
            #expect(got == status, "\(session.message.text)")
            #expect(session.message.text.contains(fragment), "message: \(session.message.text)")
        }
        let saved = good.tokens[0]
        good.tokens[0] = config.vocab_size
        good.tokenCount = config.max_text_tokens
        expectFailure(good.input, PK_ERR_ARGUMENT, "token 0 is id \(config.vocab_size)")
        good.tokens[0] = -1
        expectFailure(good.input, PK_ERR_ARGUMENT, "token 0 is id -1")
        good.tokens[0] = saved
        // An id past token_count is never read: padding positions embed <pad> whatever the caller put there.
        good.tokenCount = 0
        good.tokens[0] = 1_000_000
        #expect(session.run(good.input).0 == PK_OK)
        good.tokens[0] = saved
        good.tokenCount = config.max_text_tokens + 1
        expectFailure(good.input, PK_ERR_ARGUMENT, "token_count \(config.max_text_tokens + 1)")
        good.tokenCount = -1
        expectFailure(good.input, PK_ERR_ARGUMENT, "token_count -1")
        good.tokenCount = 2
        let s3 = good.state[3]
        good.state[3] = .nan
        expectFailure(good.input, PK_ERR_NONFINITE, "state[3]")
        good.state[3] = .infinity
        expectFailure(good.input, PK_ERR_NONFINITE, "state[3]")
        good.state[3] = s3

        var noImages = good.input
        noImages.images = nil
        expectFailure(noImages, PK_ERR_ARGUMENT, "null images")
        let savedImage = good.imagePointers[0]
        good.imagePointers[0] = nil
        expectFailure(good.input, PK_ERR_ARGUMENT, "image 0 is null")
        good.imagePointers[0] = savedImage
        var noState = good.input
        noState.state = nil
        expectFailure(noState, PK_ERR_ARGUMENT, "null")

        var input = good.input
        let message = MessageBuffer()
        #expect(
            pk_forward(nil, session.state, &input, session.actions, message.pointer, message.count) == PK_ERR_ARGUMENT
        )
        #expect(
            pk_forward(session.model, nil, &input, session.actions, message.pointer, message.count) == PK_ERR_ARGUMENT
        )
        #expect(
            pk_forward(session.model, session.state, nil, session.actions, message.pointer, message.count)
                == PK_ERR_ARGUMENT
        )
        #expect(
            pk_forward(session.model, session.state, &input, nil, message.pointer, message.count) == PK_ERR_ARGUMENT
        )
        #expect(pk_forward(session.model, session.state, &input, session.actions, nil, 0) == PK_OK)
        // The state still works after every refusal.
        #expect(session.run(good.input).0 == PK_OK)
    }

    @Test func stateArena() throws {
        let config = try KernelFixtures.config("tiny")
        let model = try loadModel(KernelFixtures.modelPath("tiny"), config).get()
        defer { pk_model_free(model) }
        let size = pk_state_arena_size(model)
        #expect(size > 0)
        let arena = UnsafeMutableRawPointer.allocate(byteCount: size + 64, alignment: 64)
        defer { arena.deallocate() }
        let message = MessageBuffer()
        var state: OpaquePointer? = nil
        #expect(pk_state_init(model, arena, size - 1, &state, message.pointer, message.count) == PK_ERR_ARENA)
        #expect(message.text.contains("arena of \(size - 1) bytes"))
        // Any alignment of the arena works (the state aligns itself inside the slack).
        for offset in [0, 1, 3, 63] {
            #expect(pk_state_init(model, arena + offset, size, &state, message.pointer, message.count) == PK_OK)
            pk_state_release(state)
        }
        #expect(pk_state_init(model, nil, size, &state, message.pointer, message.count) == PK_ERR_ARGUMENT)
        pk_state_release(nil)
        pk_model_free(nil)
    }

    @Test func releasedTwoThreadStateIsRefused() throws {
        let config = try KernelFixtures.config("tiny")
        let session = try KernelSession(path: KernelFixtures.modelPath("tiny"), config: config, threads: 2)
        let c = try #require(try goldenCases("tiny").first)
        #expect(session.run(c.input).0 == PK_OK)
        pk_state_release(session.state)
        pk_state_release(session.state)  // twice is harmless
        let (status, _) = session.run(c.input)
        #expect(status == PK_ERR_ARGUMENT)
        #expect(session.message.text.contains("released"))
    }

    @Test("no allocation per inference: every path, threads 1 and 2", arguments: [Int32(1), 2])
    func noAllocation(threads: Int32) throws {
        #expect(ec_allocations_interposed() != 0, "the allocation counter must interpose malloc in this process")
        let name = "small"
        let config = try KernelFixtures.config(name)
        let cases = try goldenCases(name)
        for (variant, path) in try KernelFixtures.variants(name) + KernelFixtures.variants("tiny") {
            let cfg = path.contains("/tiny/") ? try KernelFixtures.config("tiny") : config
            let inputs = path.contains("/tiny/") ? try goldenCases("tiny") : cases
            for isa in KernelFixtures.isas {
                let session = try KernelSession(path: path, config: cfg, isa: isa, threads: threads)
                var prepared = inputs.map(\.input)
                for i in prepared.indices {
                    #expect(
                        pk_forward(
                            session.model,
                            session.state,
                            &prepared[i],
                            session.actions,
                            session.message.pointer,
                            session.message.count
                        ) == PK_OK
                    )
                }
                // The measured code runs once untimed first: the Swift runtime may set up its own metadata lazily.
                _ = countAllocations(session, &prepared, iterations: 3)
                let (allocations, failures) = countAllocations(session, &prepared, iterations: 1000)
                #expect(failures == 0)
                #expect(
                    allocations == 0,
                    "\(variant) \(String(cString: pk_isa_name(isa))) threads \(threads): \(allocations) allocations in 1000 inferences"
                )
            }
        }
    }

    /// Allocations made by this thread over `iterations` inferences cycling through `inputs`, and the failures.
    func countAllocations(_ session: KernelSession, _ inputs: inout [pk_input], iterations: Int) -> (UInt64, Int) {
        var failures = 0
        let count = inputs.count
        ec_allocations_begin()
        inputs.withUnsafeMutableBufferPointer { inputs in
            for i in 0..<iterations {
                let status = pk_forward(
                    session.model,
                    session.state,
                    inputs.baseAddress! + i % count,
                    session.actions,
                    session.message.pointer,
                    session.message.count
                )
                if status != PK_OK { failures += 1 }
            }
        }
        return (ec_allocations_end(), failures)
    }
}
