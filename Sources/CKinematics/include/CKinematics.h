/*
 * CKinematics: serial-arm kinematics for EdgeCell (C ABI over C++17 + Eigen).
 *
 * Forward kinematics, geometric Jacobian, damped-least-squares inverse kinematics and smooth point-to-point
 * trajectories for an arm described by standard Denavit-Hartenberg rows, as the twin's handshake sends them
 * (Sim/PROTOCOL.md, WELCOME). Conventions follow MuJoCo's C API: a const description struct plus caller-owned
 * output buffers; nothing is allocated by any call (Eigen works on fixed-size stack matrices); every function
 * returns a ckin_status and never aborts on bad input.
 *
 * Units: metres, radians, seconds. Poses are 7 doubles: position (x, y, z) then unit quaternion (w, x, y, z).
 * Input quaternions are normalised (rejected as CKIN_BAD_ARGUMENT when their norm is below 1e-6); output
 * quaternions are unit with w >= 0. On CKIN_BAD_ARGUMENT no output is written. Every call is reentrant and
 * thread-safe (no global state beyond the fault counter below).
 */
#ifndef CKINEMATICS_H
#define CKINEMATICS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Most joints an arm may have. */
#define CKIN_MAX_JOINTS 8

/** Result codes. */
typedef enum ckin_status {
    CKIN_OK = 0,
    CKIN_BAD_ARGUMENT = 1, /**< null pointer, joint count out of 1...CKIN_MAX_JOINTS, non-finite input */
    CKIN_NOT_CONVERGED = 2, /**< IK: iteration limit reached before the tolerances were met */
    CKIN_LIMITS = 3, /**< IK: the only solutions found violate joint limits */
    CKIN_INFEASIBLE = 4, /**< trajectory: limits make the motion impossible (e.g. zero velocity limit) */
} ckin_status;

/** A serial arm: DH rows (standard convention), base and tool poses, joint limits. */
typedef struct ckin_robot {
    int joint_count;
    double a[CKIN_MAX_JOINTS];
    double d[CKIN_MAX_JOINTS];
    double alpha[CKIN_MAX_JOINTS];
    double theta_offset[CKIN_MAX_JOINTS];
    double base_pose[7]; /**< robot base in the world frame */
    double tool_pose[7]; /**< TCP in the flange frame */
    double position_min[CKIN_MAX_JOINTS];
    double position_max[CKIN_MAX_JOINTS];
    double velocity_max[CKIN_MAX_JOINTS];
    double acceleration_max[CKIN_MAX_JOINTS];
} ckin_robot;

/** TCP pose in the world frame for joint positions q (joint_count values). */
ckin_status ckin_forward(const ckin_robot *robot, const double *q, double pose_out[7]);

/**
 * Geometric Jacobian of the TCP in the world frame, 6 x joint_count, row-major: rows 0-2 linear velocity,
 * rows 3-5 angular velocity.
 */
ckin_status ckin_jacobian(const ckin_robot *robot, const double *q, double *jacobian_out);

/** Options for ckin_inverse. Zero-initialised fields take the defaults in brackets. */
typedef struct ckin_ik_options {
    int max_iterations;          /**< [200] */
    double position_tolerance;   /**< m [1e-5] */
    double orientation_tolerance;/**< rad [1e-4] */
    double damping;              /**< lambda of damped least squares [0.05] */
    double max_step;             /**< largest joint change per iteration, rad [0.2] */
    double orientation_weight;   /**< weight of the rotation error against the position error, m/rad [0.3] */
} ckin_ik_options;

/** What ckin_inverse did. */
typedef struct ckin_ik_report {
    int iterations;
    double position_error;    /**< m */
    double orientation_error; /**< rad */
} ckin_ik_report;

/**
 * Damped-least-squares IK for a full TCP pose target, starting from q_seed and staying within joint limits
 * (the seed and each iterate are clamped into [position_min, position_max]). q_out receives the solution (or
 * the best iterate when the status is not CKIN_OK); report may be NULL; options may be NULL for the defaults.
 * `damping` is the starting lambda: it shrinks after steps that reduce the error and grows after steps that do
 * not (Levenberg-Marquardt), and every trial pose counts as an iteration. The solver follows the seed's
 * branch (elbow, wrist, shoulder), so seed from the current posture for continuous motion.
 * CKIN_LIMITS: not converged, and the best iterate has a joint on a limit that the solver wants to pass.
 * q_out may alias q_seed.
 */
ckin_status ckin_inverse(const ckin_robot *robot, const double target_pose[7], const double *q_seed,
                         const ckin_ik_options *options, double *q_out, ckin_ik_report *report);

/**
 * Shortest duration, s, of a synchronised rest-to-rest quintic (minimum-jerk) motion from q0 to q1 that keeps
 * every joint within velocity_scale * velocity_max and acceleration_scale * acceleration_max
 * (scales in (0, 1]). A quintic rest-to-rest profile peaks at 1.875 * dq / T in velocity and
 * 5.7735 * dq / T^2 in acceleration.
 */
ckin_status ckin_quintic_duration(const ckin_robot *robot, const double *q0, const double *q1,
                                  double velocity_scale, double acceleration_scale, double *duration_out);

/**
 * Rest-to-rest quintic (minimum-jerk) interpolation from q0 to q1 over duration at time t (clamped to
 * [0, duration]): positions, velocities and accelerations of `count` joints. qd_out and qdd_out may be NULL.
 */
ckin_status ckin_quintic_sample(int count, const double *q0, const double *q1, double duration, double t,
                                double *q_out, double *qd_out, double *qdd_out);

/** Human-readable name of a status code (static string). */
const char *ckin_status_string(ckin_status status);

/**
 * Internal faults since the process started: Eigen assertions that failed inside this library, including any
 * attempted heap allocation (it is compiled with EIGEN_NO_MALLOC, with assertions counted, never aborting).
 * Always 0 in a correct build; tests check it.
 */
unsigned long ckin_internal_faults(void);

#ifdef __cplusplus
}
#endif

#endif /* CKINEMATICS_H */
