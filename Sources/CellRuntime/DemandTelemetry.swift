import DemandMetrics
import Foundation
import Policy
import TwinProtocol

extension DemandCollector.Model {
    /// The model's figures as the kernel counts them, and this core's measured peak on the path it runs
    /// (`measurePeakSeconds` > 0; the measurement takes that long).
    public init(policy: Policy, kernelThreads: Int, measurePeakSeconds: Double = 0.3) {
        let path = policy.path
        self.init(
            name: policy.config.name,
            sha256: policy.config.weights[policy.variant.rawValue]?.sha256.lowercased() ?? "",
            precision: policy.variant.rawValue,
            parameters: Int(policy.parameterCount),
            operations: policy.executedWork.map {
                DemandReport.OperationWork(operation: $0.operation, flops: Double($0.flops), bytes: Double($0.bytes))
            },
            weightBytes: Int(policy.packedWeightBytes),
            arenaBytes: policy.arenaBytes,
            isaPath: path.rawValue,
            kernelThreads: kernelThreads,
            peakFlopsPerSecondPerCore: measurePeakSeconds > 0
                ? Policy.measurePeak(path: path, seconds: measurePeakSeconds) * 1e9 : nil
        )
    }
}

extension DemandCollector {
    /// Adds a finished episode's control-loop timing (read after its control thread stopped).
    public func add(_ statistics: LoopStatistics) {
        self.addControlLoop { loop in
            loop.ticks += statistics.ticks
            loop.overruns += statistics.overruns
            statistics.lateness.forEachBucket { loop.lateness.record(nanoseconds: Int64($0), count: $1) }
            statistics.compute.forEachBucket { loop.compute.record(nanoseconds: Int64($0), count: $1) }
        }
    }

    /// The cameras a policy reads, with the resolutions the cell renders them at.
    public static func cameras(policy: Policy?, welcome: Welcome) -> [DemandReport.Camera] {
        let names = policy?.config.architecture.cameras ?? welcome.cameras.map(\.name)
        return names.compactMap { name in
            welcome.cameras.first { $0.name == name }.map {
                DemandReport.Camera(name: name, width: Int($0.width), height: Int($0.height))
            }
        }
    }
}
