/// How far a figure can be trusted.
public enum Status: String, Codable, Sendable {
    /// Copied from a cited source.
    case sourced
    /// Computed from sourced figures (the note gives how).
    case derived
    /// An engineering estimate from the cited material; no source gives the number itself.
    case estimate
    /// A scenario assumption: a choice, not a finding.
    case assumption
}

/// An uncertain input: a triangular range (low, mode, high) with its provenance.
public struct Uncertain: Codable, Sendable, Equatable {
    public var low: Double
    public var mode: Double
    public var high: Double
    public var status: Status
    public var source: String

    public init(_ low: Double, _ mode: Double, _ high: Double, _ status: Status, _ source: String) {
        self.low = low
        self.mode = mode
        self.high = high
        self.status = status
        self.source = source
    }

    /// A fixed value.
    public init(exactly value: Double, _ status: Status, _ source: String) {
        self.init(value, value, value, status, source)
    }
}

/// An edge compute module a cell can carry.
public struct ComputeModule: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    /// The SoC's designer, as named in the seed's processor rows.
    public var designer: String
    /// The foundry that makes the SoC, as named in the seed's foundry rows.
    public var foundry: String
    public var node: String
    /// Peak AI throughput in tera-operations per second, with its basis in `peakBasis`.
    public var peakTOPS: Double
    public var peakBasis: String
    public var dramGB: Double
    public var bandwidthGBs: Double
    public var powerWatts: String
    public var source: String
    /// Where the foundry attribution comes from (secondary sources only, so far).
    public var foundrySource: String
}

/// Edge modules and per-cell semiconductor content, each with its source; ranges where the sources give none.
public enum Catalogue {
    private static let anchors = "anchors-strategy.md"

    /// Ordered smallest first: an overloaded cell moves to the first later module that fits.
    public static let modules: [ComputeModule] = [
        ComputeModule(
            id: "jetson-orin-nano-8gb",
            name: "NVIDIA Jetson Orin Nano 8 GB",
            designer: "NVIDIA",
            foundry: "Samsung",
            node: "8 nm",
            peakTOPS: 40,
            peakBasis: "INT8, sparse (20 dense)",
            dramGB: 8,
            bandwidthGBs: 68,
            powerWatts: "up to 15",
            source: "NVIDIA datasheet via Scribd copy (\(anchors) §3.1)",
            foundrySource: "secondary blog, Samsung 8 nm for the Orin family (\(anchors) §3.1, §6: unverified)"
        ),
        ComputeModule(
            id: "jetson-orin-nano-super-8gb",
            name: "NVIDIA Jetson Orin Nano 8 GB Super (JetPack 6.1)",
            designer: "NVIDIA",
            foundry: "Samsung",
            node: "8 nm",
            peakTOPS: 67,
            peakBasis: "INT8, sparse",
            dramGB: 8,
            bandwidthGBs: 102,
            powerWatts: "up to 25",
            source: "blog citing NVIDIA's Dec 2024 datasheet (\(anchors) §3.1)",
            foundrySource: "secondary blog, same silicon as Orin Nano, Samsung 8 nm (\(anchors) §3.1)"
        ),
        ComputeModule(
            id: "jetson-agx-orin-64gb",
            name: "NVIDIA Jetson AGX Orin 64 GB",
            designer: "NVIDIA",
            foundry: "Samsung",
            node: "8 nm",
            peakTOPS: 275,
            peakBasis: "INT8, sparse",
            dramGB: 64,
            bandwidthGBs: 204.8,
            powerWatts: "15-60",
            source: "Fixstars blog, NVIDIA forum (\(anchors) §3.1); 204.8 GB/s not verified",
            foundrySource: "secondary source, Orin family on Samsung 8 nm (\(anchors) §3.1, §6: unverified)"
        ),
        ComputeModule(
            id: "jetson-agx-thor-t5000",
            name: "NVIDIA Jetson AGX Thor T5000",
            designer: "NVIDIA",
            foundry: "TSMC",
            node: "4 nm",
            peakTOPS: 1035,
            peakBasis: "FP8 TFLOPS (2,070 FP4)",
            dramGB: 128,
            bandwidthGBs: 273,
            powerWatts: "40-130",
            source: "RidgeRun wiki spec table and several reports (\(anchors) §3.1)",
            foundrySource: "secondary source on DRIVE AGX Thor, TSMC 4 nm (\(anchors) §3.1, §6: unverified)"
        ),
    ]

    public static func module(_ id: String) -> ComputeModule? { modules.first { $0.id == id } }

    /// The per-cell content and technical inputs; every one is a parameter a scenario may override.
    public static let defaultParameters: [String: Uncertain] = [
        Parameter.mcusPerJoint: Uncertain(
            1,
            1,
            2,
            .estimate,
            "one 32-bit motor-control MCU per single-axis servo drive (\(anchors) §3.2); high: a second MCU for "
                + "safety or encoder processing [assumption]"
        ),
        Parameter.powerDevicesPerJoint: Uncertain(
            6,
            6,
            12,
            .estimate,
            "three-phase bridge of 6 MOSFETs (or GaN/SiC) per drive (\(anchors) §3.2); high: paralleled devices "
                + "in high-current joints [assumption]"
        ),
        Parameter.analogICsPerJoint: Uncertain(
            4,
            6,
            8,
            .estimate,
            "half-bridge gate drivers (3) and 2-3 current-sense amplifiers per drive (\(anchors) §3.2); counted "
                + "as 'other analog IC' [interpretation]"
        ),
        Parameter.imageSensorsPerCamera: Uncertain(
            1,
            1,
            2,
            .estimate,
            "one sensor per RGB camera; depth units such as RealSense carry more (\(anchors) §3.3)"
        ),
        Parameter.nandGBPerCell: Uncertain(
            32,
            64,
            256,
            .assumption,
            "OS, models and episode logs on the module's storage; no source gives a figure (\(anchors) §6)"
        ),
        Parameter.dramReserveGB: Uncertain(
            2,
            4,
            8,
            .assumption,
            "DRAM the OS, the runtime and the cameras need besides the model; no source gives a figure"
        ),
        Parameter.usableComputeFraction: Uncertain(
            0.05,
            0.15,
            0.30,
            .assumption,
            "fraction of a module's peak TOPS a batch-1 policy attains: batch-1 decode sits far left of the "
                + "roofline ridge (\(anchors) §1.4); the measured CPU kernel attains 74 % of its FP32 FMA peak "
                + "(BENCHMARKS.md), accelerators much less at batch 1"
        ),
        Parameter.usableBandwidthFraction: Uncertain(
            0.5,
            0.7,
            0.85,
            .assumption,
            "fraction of peak DRAM bandwidth a streaming kernel sustains [assumption]"
        ),
        Parameter.installsGrowth: Uncertain(
            -0.02,
            0.02,
            0.06,
            .assumption,
            "IFR world installs: 552,946 (2022), 541,302 (2023), 542,000 (2024), i.e. flat (\(anchors) §3.5)"
        ),
        Parameter.aiShareStart: Uncertain(
            0.005,
            0.01,
            0.03,
            .assumption,
            "fraction of new industrial robots installed as learned-policy cells with an edge AI module; no source"
        ),
        Parameter.aiShareEnd: Uncertain(
            0.05,
            0.15,
            0.40,
            .assumption,
            "the same fraction in the last year; no source"
        ),
        Parameter.modelGrowth: Uncertain(
            1.3,
            2.0,
            3.0,
            .assumption,
            "yearly factor on a cell policy's FLOPs, bytes moved and memory; no source for edge VLAs"
        ),
    ]
}

/// The names of the uncertain inputs, as written in scenario files.
public enum Parameter {
    public static let installsGrowth = "installs_growth"
    public static let aiShareStart = "ai_share_start"
    public static let aiShareEnd = "ai_share_end"
    public static let modelGrowth = "model_growth"
    public static let mcusPerJoint = "mcus_per_joint"
    public static let powerDevicesPerJoint = "power_devices_per_joint"
    public static let analogICsPerJoint = "analog_ics_per_joint"
    public static let imageSensorsPerCamera = "image_sensors_per_camera"
    public static let nandGBPerCell = "nand_gb_per_cell"
    public static let dramReserveGB = "dram_reserve_gb"
    public static let usableComputeFraction = "usable_compute_fraction"
    public static let usableBandwidthFraction = "usable_bandwidth_fraction"

    /// Every name, in report order.
    public static let all = [
        installsGrowth, aiShareStart, aiShareEnd, modelGrowth, mcusPerJoint, powerDevicesPerJoint,
        analogICsPerJoint, imageSensorsPerCamera, nandGBPerCell, dramReserveGB, usableComputeFraction,
        usableBandwidthFraction,
    ]
}

/// A robot-deployment figure from IFR World Robotics, as the anchors quote it.
public struct DeploymentFigure: Codable, Sendable, Equatable {
    public var id: String
    public var region: String
    public var year: Int
    /// "installations" (robots installed that year) or "operational_stock".
    public var measure: String
    public var value: Double
    public var source: String
}

/// Industrial-robot installations and stock (`anchors-strategy.md` §0 and §3.5).
public enum Deployments {
    private static let ifr2024 = "IFR World Robotics 2024 press release (anchors-strategy.md §3.5)"
    private static let ifr2025 = "IFR World Robotics 2025 press release (anchors-strategy.md §0, §3.5)"

    public static let figures: [DeploymentFigure] = [
        DeploymentFigure(
            id: "ifr-world-installs-2022",
            region: "world",
            year: 2022,
            measure: "installations",
            value: 552_946,
            source: "IFR (anchors-strategy.md §3.5), record year"
        ),
        DeploymentFigure(
            id: "ifr-world-installs-2023",
            region: "world",
            year: 2023,
            measure: "installations",
            value: 541_302,
            source: ifr2024
        ),
        DeploymentFigure(
            id: "ifr-world-installs-2024",
            region: "world",
            year: 2024,
            measure: "installations",
            value: 542_000,
            source: ifr2025
        ),
        DeploymentFigure(
            id: "ifr-world-stock-2023",
            region: "world",
            year: 2023,
            measure: "operational_stock",
            value: 4_281_585,
            source: ifr2024
        ),
        DeploymentFigure(
            id: "ifr-world-stock-2024",
            region: "world",
            year: 2024,
            measure: "operational_stock",
            value: 4_664_000,
            source: ifr2025
        ),
        DeploymentFigure(
            id: "ifr-japan-installs-2023",
            region: "JP",
            year: 2023,
            measure: "installations",
            value: 46_106,
            source: "IFR via electronicspecifier (anchors-strategy.md §3.5): Japan 46,106 (-9 %)"
        ),
        DeploymentFigure(
            id: "ifr-china-installs-2023",
            region: "CN",
            year: 2023,
            measure: "installations",
            value: 276_288,
            source: ifr2024 + ": China 276,288 (51 %)"
        ),
        DeploymentFigure(
            id: "ifr-china-installs-2024",
            region: "CN",
            year: 2024,
            measure: "installations",
            value: 295_000,
            source: ifr2025 + ": China ~295,000 (+7 %)"
        ),
    ]

    public static func figure(_ id: String) -> DeploymentFigure? { figures.first { $0.id == id } }
}
