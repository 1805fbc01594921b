// CKinematics: the C API of include/CKinematics.h implemented with Eigen on fixed-size stack matrices.
//
// Rules this file keeps (see docs/ARCHITECTURE.md, real-time rules):
// - No heap: every Eigen object has a compile-time maximum size. EIGEN_NO_MALLOC turns any allocation Eigen
//   might still attempt into an eigen_assert, which we route to a fault counter (ckin_internal_faults) rather
//   than abort(), so tests can prove the property without a crash path across the C boundary.
// - No exceptions: nothing here throws (no allocation, no throwing library calls); the internal functions are
//   noexcept so a compiler sees any throw that sneaks in, and the C entry points only call them.
// - Every input is validated before use; bad input returns CKIN_BAD_ARGUMENT and leaves outputs untouched.

#include "CKinematics.h"

#include <atomic>
#include <cmath>

// Counts Eigen assertion failures (heap allocation under EIGEN_NO_MALLOC, size mismatches). Defined before
// Eigen is included so eigen_assert can name it; it must never abort, whatever the build type.
static std::atomic<unsigned long> ckin_fault_counter{0};
static void ckin_note_fault() noexcept { ckin_fault_counter.fetch_add(1, std::memory_order_relaxed); }

#define EIGEN_NO_MALLOC
#define eigen_assert(x) ((x) ? static_cast<void>(0) : ckin_note_fault())
#include <Eigen/Dense>

namespace {

using Vec3 = Eigen::Vector3d;
using Mat3 = Eigen::Matrix3d;
using Vec6 = Eigen::Matrix<double, 6, 1>;
using Mat6 = Eigen::Matrix<double, 6, 6>;
// Joint-space objects are fully fixed-size at CKIN_MAX_JOINTS, zero beyond the arm's joint count (a zero
// Jacobian column adds nothing to J J^T and gets a zero step). Max-size dynamic types would also live on the
// stack, but their products go through Eigen's GEMM/GEMV kernels, which carry a malloc fallback; fixed sizes
// with lazy products compile to plain loops with no allocation path (checked: no malloc symbol in the object).
using JointVec = Eigen::Matrix<double, CKIN_MAX_JOINTS, 1>;
using Jacobian = Eigen::Matrix<double, 6, CKIN_MAX_JOINTS>;

static_assert(JointVec::SizeAtCompileTime == CKIN_MAX_JOINTS, "joint vectors must be fixed-size");
static_assert(Jacobian::SizeAtCompileTime == 6 * CKIN_MAX_JOINTS, "the Jacobian must be fixed-size");
static_assert(CKIN_MAX_JOINTS >= 1, "CKIN_MAX_JOINTS must be positive");

// Below this norm a quaternion carries no usable direction; above it we normalise (MuJoCo does the same).
constexpr double kMinQuaternionNorm = 1e-6;
// Peaks of the normalised rest-to-rest quintic s(tau) = 10 tau^3 - 15 tau^4 + 6 tau^5:
// s' peaks at tau = 1/2 with 15/8, s'' at tau = (3 - sqrt 3) / 6 with 10 / sqrt 3.
constexpr double kQuinticPeakVelocity = 1.875;
const double kQuinticPeakAcceleration = 10.0 / std::sqrt(3.0);

struct Frame {
    Mat3 R;
    Vec3 p;
};

inline Frame compose(const Frame &a, const Frame &b) noexcept {
    Frame out;
    out.R.noalias() = a.R * b.R;
    out.p.noalias() = a.R * b.p;
    out.p += a.p;
    return out;
}

inline bool finite_all(const double *v, int count) noexcept {
    for (int i = 0; i < count; ++i)
        if (!std::isfinite(v[i])) return false;
    return true;
}

// Reads a (x, y, z, w, qx, qy, qz) pose: finite numbers and a quaternion we can normalise.
bool read_pose(const double *pose, Frame *out) noexcept {
    if (pose == nullptr || !finite_all(pose, 7)) return false;
    Eigen::Quaterniond quat(pose[3], pose[4], pose[5], pose[6]);
    const double norm = quat.norm();
    if (!(norm >= kMinQuaternionNorm)) return false;
    quat.coeffs() /= norm;
    out->R = quat.toRotationMatrix();
    out->p = Vec3(pose[0], pose[1], pose[2]);
    return true;
}

// Unit quaternion with w >= 0 (ties at w == 0 broken by the first non-zero vector component), so equal
// rotations always print the same numbers.
Eigen::Quaterniond canonical_quaternion(const Mat3 &R) noexcept {
    Eigen::Quaterniond quat(R);
    quat.normalize();
    bool flip = quat.w() < 0.0;
    if (quat.w() == 0.0) {
        const double first = quat.x() != 0.0 ? quat.x() : (quat.y() != 0.0 ? quat.y() : quat.z());
        flip = first < 0.0;
    }
    if (flip) quat.coeffs() = -quat.coeffs();
    return quat;
}

void write_pose(const Frame &frame, double pose[7]) noexcept {
    const Eigen::Quaterniond quat = canonical_quaternion(frame.R);
    pose[0] = frame.p.x();
    pose[1] = frame.p.y();
    pose[2] = frame.p.z();
    pose[3] = quat.w();
    pose[4] = quat.x();
    pose[5] = quat.y();
    pose[6] = quat.z();
}

// A validated robot: the parsed base and tool frames next to the caller's description.
struct Arm {
    const ckin_robot *robot;
    int n;
    Frame base;
    Frame tool;
};

bool read_robot(const ckin_robot *robot, Arm *arm) noexcept {
    if (robot == nullptr) return false;
    const int n = robot->joint_count;
    if (n < 1 || n > CKIN_MAX_JOINTS) return false;
    if (!finite_all(robot->a, n) || !finite_all(robot->d, n) || !finite_all(robot->alpha, n) ||
        !finite_all(robot->theta_offset, n))
        return false;
    for (int i = 0; i < n; ++i) {
        const double lo = robot->position_min[i], hi = robot->position_max[i];
        if (!std::isfinite(lo) || !std::isfinite(hi) || lo > hi) return false;
        // Zero limits are valid input (the trajectory call reports them as CKIN_INFEASIBLE); negative are not.
        if (!std::isfinite(robot->velocity_max[i]) || robot->velocity_max[i] < 0.0) return false;
        if (!std::isfinite(robot->acceleration_max[i]) || robot->acceleration_max[i] < 0.0) return false;
    }
    if (!read_pose(robot->base_pose, &arm->base) || !read_pose(robot->tool_pose, &arm->tool)) return false;
    arm->robot = robot;
    arm->n = n;
    return true;
}

// Standard DH: Rz(theta) Tz(d) Tx(a) Rx(alpha).
inline Frame dh_transform(double theta, double d, double a, double alpha) noexcept {
    const double ct = std::cos(theta), st = std::sin(theta);
    const double ca = std::cos(alpha), sa = std::sin(alpha);
    Frame f;
    f.R << ct, -st * ca, st * sa,
           st, ct * ca, -ct * sa,
           0.0, sa, ca;
    f.p = Vec3(a * ct, a * st, d);
    return f;
}

// TCP frame in the world; when axes/origins are given, also the world z axis and origin of the frame each
// joint turns about (frame i-1 for joint i), which is what the geometric Jacobian needs.
Frame chain(const Arm &arm, const double *q, Vec3 *axes, Vec3 *origins) noexcept {
    const ckin_robot &r = *arm.robot;
    Frame frame = arm.base;
    for (int i = 0; i < arm.n; ++i) {
        if (axes != nullptr) {
            axes[i] = frame.R.col(2);
            origins[i] = frame.p;
        }
        frame = compose(frame, dh_transform(q[i] + r.theta_offset[i], r.d[i], r.a[i], r.alpha[i]));
    }
    return compose(frame, arm.tool);
}

Frame jacobian(const Arm &arm, const double *q, Jacobian *J) noexcept {
    Vec3 axes[CKIN_MAX_JOINTS];
    Vec3 origins[CKIN_MAX_JOINTS];
    const Frame tcp = chain(arm, q, axes, origins);
    J->setZero();
    for (int i = 0; i < arm.n; ++i) {
        J->col(i).head<3>() = axes[i].cross(tcp.p - origins[i]);
        J->col(i).tail<3>() = axes[i];
    }
    return tcp;
}

// World-frame pose error that drives the TCP from `current` to `target`: position difference, then the
// rotation vector of R_target R_current^T (shortest way round, angle in [0, pi]).
Vec6 pose_error(const Frame &target, const Frame &current) noexcept {
    Vec6 e;
    e.head<3>() = target.p - current.p;
    Eigen::Quaterniond dq(target.R * current.R.transpose());
    dq.normalize();
    if (dq.w() < 0.0) dq.coeffs() = -dq.coeffs();
    const double s = dq.vec().norm();
    // angle / sin(angle / 2) -> 2 as the angle -> 0; atan2 stays accurate at both ends.
    const double scale = s > 1e-12 ? 2.0 * std::atan2(s, dq.w()) / s : 2.0;
    e.tail<3>() = scale * dq.vec();
    return e;
}

struct IkSettings {
    int max_iterations;
    double position_tolerance;
    double orientation_tolerance;
    double damping;
    double max_step;
    double orientation_weight;
};

// Zero fields take the defaults; negative or non-finite fields are rejected.
bool read_options(const ckin_ik_options *options, IkSettings *s) noexcept {
    *s = IkSettings{200, 1e-5, 1e-4, 0.05, 0.2, 0.3};
    if (options == nullptr) return true;
    if (options->max_iterations < 0) return false;
    const double values[5] = {options->position_tolerance, options->orientation_tolerance, options->damping,
                              options->max_step, options->orientation_weight};
    for (double v : values)
        if (!std::isfinite(v) || v < 0.0) return false;
    if (options->max_iterations > 0) s->max_iterations = options->max_iterations;
    if (options->position_tolerance > 0.0) s->position_tolerance = options->position_tolerance;
    if (options->orientation_tolerance > 0.0) s->orientation_tolerance = options->orientation_tolerance;
    if (options->damping > 0.0) s->damping = options->damping;
    if (options->max_step > 0.0) s->max_step = options->max_step;
    if (options->orientation_weight > 0.0) s->orientation_weight = options->orientation_weight;
    return true;
}

inline double clamp(double v, double lo, double hi) noexcept { return v < lo ? lo : (v > hi ? hi : v); }

struct Evaluation {
    Vec6 error; // weighted: position, then orientation_weight * rotation vector
    double cost;
    double position_error;
    double orientation_error;
};

Evaluation evaluate(const Arm &arm, const Frame &target, const JointVec &q, double weight) noexcept {
    Evaluation ev;
    const Vec6 e = pose_error(target, chain(arm, q.data(), nullptr, nullptr));
    ev.position_error = e.head<3>().norm();
    ev.orientation_error = e.tail<3>().norm();
    ev.error.head<3>() = e.head<3>();
    ev.error.tail<3>() = weight * e.tail<3>();
    ev.cost = ev.error.squaredNorm();
    return ev;
}

// Damped least-squares step dq = J^T (J J^T + lambda^2 I)^-1 e on the weighted Jacobian; the 6x6 solve keeps
// the cost independent of the joint count.
JointVec dls_step(const Jacobian &J, const Vec6 &e, double lambda) noexcept {
    // lazyProduct: with a depth of CKIN_MAX_JOINTS (>= 8) Eigen would otherwise pick its blocked GEMM kernel,
    // which is slower at this size and carries a heap fallback.
    Mat6 A = J.lazyProduct(J.transpose());
    A.diagonal().array() += lambda * lambda;
    const Vec6 y = A.ldlt().solve(e);
    JointVec dq;
    dq = J.transpose().lazyProduct(y);
    return dq;
}

Jacobian weighted_jacobian(const Arm &arm, const JointVec &q, double weight) noexcept {
    Jacobian J;
    jacobian(arm, q.data(), &J);
    J.bottomRows<3>() *= weight;
    return J;
}

ckin_status inverse(const Arm &arm, const Frame &target, const double *q_seed, const IkSettings &s,
                    double *q_out, ckin_ik_report *report) noexcept {
    const ckin_robot &r = *arm.robot;
    const int n = arm.n;
    JointVec q = JointVec::Zero();
    for (int i = 0; i < n; ++i) q[i] = clamp(q_seed[i], r.position_min[i], r.position_max[i]);

    // Levenberg-Marquardt style adaptive damping: shrink lambda after a step that lowers the error (towards
    // Gauss-Newton near the solution), grow it and retry after one that does not. The iterate is therefore
    // always the best pose seen, which is what the caller gets when we stop early.
    constexpr double kLambdaMin = 1e-6;
    constexpr double kLambdaMax = 1e3;
    double lambda = s.damping;
    Evaluation current = evaluate(arm, target, q, s.orientation_weight);
    int iterations = 0;
    bool converged = false;
    bool need_jacobian = true;
    Jacobian J;
    while (true) {
        converged = current.position_error <= s.position_tolerance &&
                    current.orientation_error <= s.orientation_tolerance;
        if (converged || iterations >= s.max_iterations) break;
        ++iterations;
        if (need_jacobian) J = weighted_jacobian(arm, q, s.orientation_weight);
        JointVec dq = dls_step(J, current.error, lambda);
        // Scale the whole step (not each joint) so it keeps its direction in joint space.
        const double largest = dq.cwiseAbs().maxCoeff();
        if (!(largest <= s.max_step)) {
            if (!std::isfinite(largest)) { // numerically hopeless step: damp harder and retry
                lambda = std::fmin(lambda * 10.0, kLambdaMax);
                need_jacobian = false;
                continue;
            }
            dq *= s.max_step / largest;
        }
        JointVec trial = JointVec::Zero();
        for (int i = 0; i < n; ++i) trial[i] = clamp(q[i] + dq[i], r.position_min[i], r.position_max[i]);
        const Evaluation next = evaluate(arm, target, trial, s.orientation_weight);
        if (next.cost < current.cost) {
            q = trial;
            current = next;
            lambda = std::fmax(lambda * 0.3, kLambdaMin);
            need_jacobian = true;
        } else {
            lambda = std::fmin(lambda * 4.0, kLambdaMax);
            need_jacobian = false;
        }
    }

    for (int i = 0; i < n; ++i) q_out[i] = q[i];
    if (report != nullptr) {
        report->iterations = iterations;
        report->position_error = current.position_error;
        report->orientation_error = current.orientation_error;
    }
    if (converged) return CKIN_OK;

    // Blame the limits when the nominally damped step from the best iterate would push a joint that already
    // sits on a limit further out: the unconstrained solution lies beyond it.
    const Jacobian Jw = weighted_jacobian(arm, q, s.orientation_weight);
    const JointVec dq = dls_step(Jw, current.error, s.damping);
    const double push = 1e-3 * dq.cwiseAbs().maxCoeff();
    for (int i = 0; i < n; ++i) {
        const bool at_min = q[i] <= r.position_min[i] && dq[i] < -push;
        const bool at_max = q[i] >= r.position_max[i] && dq[i] > push;
        if (at_min || at_max) return CKIN_LIMITS;
    }
    return CKIN_NOT_CONVERGED;
}

} // namespace

extern "C" {

ckin_status ckin_forward(const ckin_robot *robot, const double *q, double pose_out[7]) {
    Arm arm;
    if (!read_robot(robot, &arm) || q == nullptr || pose_out == nullptr || !finite_all(q, arm.n))
        return CKIN_BAD_ARGUMENT;
    write_pose(chain(arm, q, nullptr, nullptr), pose_out);
    return CKIN_OK;
}

ckin_status ckin_jacobian(const ckin_robot *robot, const double *q, double *jacobian_out) {
    Arm arm;
    if (!read_robot(robot, &arm) || q == nullptr || jacobian_out == nullptr || !finite_all(q, arm.n))
        return CKIN_BAD_ARGUMENT;
    Jacobian J;
    jacobian(arm, q, &J);
    for (int row = 0; row < 6; ++row)
        for (int col = 0; col < arm.n; ++col) jacobian_out[row * arm.n + col] = J(row, col);
    return CKIN_OK;
}

ckin_status ckin_inverse(const ckin_robot *robot, const double target_pose[7], const double *q_seed,
                         const ckin_ik_options *options, double *q_out, ckin_ik_report *report) {
    Arm arm;
    Frame target;
    IkSettings settings;
    if (!read_robot(robot, &arm) || !read_pose(target_pose, &target) || q_seed == nullptr || q_out == nullptr ||
        !finite_all(q_seed, arm.n) || !read_options(options, &settings))
        return CKIN_BAD_ARGUMENT;
    return inverse(arm, target, q_seed, settings, q_out, report);
}

ckin_status ckin_quintic_duration(const ckin_robot *robot, const double *q0, const double *q1,
                                  double velocity_scale, double acceleration_scale, double *duration_out) {
    Arm arm;
    if (!read_robot(robot, &arm) || q0 == nullptr || q1 == nullptr || duration_out == nullptr ||
        !finite_all(q0, arm.n) || !finite_all(q1, arm.n))
        return CKIN_BAD_ARGUMENT;
    // Written as !(in range) so NaN is rejected too.
    if (!(velocity_scale > 0.0 && velocity_scale <= 1.0) || !(acceleration_scale > 0.0 && acceleration_scale <= 1.0))
        return CKIN_BAD_ARGUMENT;
    double duration = 0.0;
    for (int i = 0; i < arm.n; ++i) {
        const double distance = std::fabs(q1[i] - q0[i]);
        if (distance == 0.0) continue;
        const double v = velocity_scale * robot->velocity_max[i];
        const double a = acceleration_scale * robot->acceleration_max[i];
        if (!(v > 0.0) || !(a > 0.0)) return CKIN_INFEASIBLE;
        const double t_velocity = kQuinticPeakVelocity * distance / v;
        const double t_acceleration = std::sqrt(kQuinticPeakAcceleration * distance / a);
        duration = std::fmax(duration, std::fmax(t_velocity, t_acceleration));
    }
    if (!std::isfinite(duration)) return CKIN_INFEASIBLE; // e.g. a distance near DBL_MAX over a tiny limit
    *duration_out = duration;
    return CKIN_OK;
}

ckin_status ckin_quintic_sample(int count, const double *q0, const double *q1, double duration, double t,
                                double *q_out, double *qd_out, double *qdd_out) {
    if (count < 1 || count > CKIN_MAX_JOINTS || q0 == nullptr || q1 == nullptr || q_out == nullptr ||
        !finite_all(q0, count) || !finite_all(q1, count) || !std::isfinite(duration) || duration < 0.0 ||
        !std::isfinite(t))
        return CKIN_BAD_ARGUMENT;
    // A zero duration means the motion is already over: hold the goal at rest.
    double s = 1.0, ds = 0.0, dds = 0.0;
    if (duration > 0.0) {
        const double tau = clamp(t / duration, 0.0, 1.0);
        const double tau2 = tau * tau, tau3 = tau2 * tau;
        s = tau3 * (10.0 + tau * (-15.0 + 6.0 * tau));
        ds = 30.0 * tau2 * (1.0 - 2.0 * tau + tau2) / duration;
        dds = 60.0 * tau * (1.0 - 3.0 * tau + 2.0 * tau2) / (duration * duration);
    }
    for (int i = 0; i < count; ++i) {
        const double delta = q1[i] - q0[i];
        // Exact endpoints: at s == 1 return q1 itself rather than q0 + (q1 - q0), which can round.
        q_out[i] = s == 1.0 ? q1[i] : q0[i] + s * delta;
        if (qd_out != nullptr) qd_out[i] = ds * delta;
        if (qdd_out != nullptr) qdd_out[i] = dds * delta;
    }
    return CKIN_OK;
}

const char *ckin_status_string(ckin_status status) {
    // Switch on the integer: callers from C or Swift may pass any value of the underlying type.
    switch (static_cast<int>(status)) {
    case CKIN_OK: return "ok";
    case CKIN_BAD_ARGUMENT: return "bad argument";
    case CKIN_NOT_CONVERGED: return "not converged";
    case CKIN_LIMITS: return "joint limits";
    case CKIN_INFEASIBLE: return "infeasible";
    }
    return "unknown status";
}

unsigned long ckin_internal_faults(void) { return ckin_fault_counter.load(std::memory_order_relaxed); }

} // extern "C"
