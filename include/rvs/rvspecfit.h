/* rvspecfit-c public API.
 *
 * Fit radial velocities and stellar parameters of spectra with interpolated
 * synthetic templates, exactly as upstream rvspecfit does, one spectrum or
 * thousands at a time.
 *
 *   rvs_config cfg;  rvs_config_read("config.yaml", &cfg);   // template_lib, velocity range...
 *   rvs_context *ctx; rvs_context_create(&cfg, NULL, &ctx);
 *   rvs_fit_output out; rvs_fit_one(ctx, &spectrum, NULL, &out);   // CCF start
 *   printf("%g +- %g km/s\n", out.vel, out.vel_err);
 *   rvs_context_free(ctx);
 *
 * Every function returns RVS_OK (0) or a negative rvs_status; the message is
 * in rvs_last_error().  Nothing is printed; logging goes through rvs_log. */
#ifndef RVS_RVSPECFIT_H
#define RVS_RVSPECFIT_H

#include "rvs/config.h"
#include "rvs/log.h"
#include "rvs/spectrum.h"
#include "rvs/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RVS_VERSION_STRING "0.1.0"
#define RVS_MAX_PARAMS 8

typedef enum rvs_param_init { RVS_INIT_CCF = 0, RVS_INIT_BRUTEFORCE = 1 } rvs_param_init;

typedef struct rvs_options {
  int npoly;          /* continuum basis functions (default 10, as the DESI driver) */
  int rbf_continuum;  /* 1: 3 monomials + Gaussian RBFs (default); 0: Chebyshev */
  int param_init;     /* rvs_param_init used when no start is given (default CCF) */
  int nthreads;       /* CPU threads (0: OpenMP default) */
  int pool;           /* fits in flight per batch round (0: 256; GPU: 8192) */
  int use_gpu;        /* 1: evaluate on a CUDA device (falls back to the CPU, with one
                         message, when the build or the machine has no usable GPU) */
  int gpu_device;     /* CUDA device index */
} rvs_options;

void rvs_options_default(rvs_options *o);

typedef struct rvs_context rvs_context;

/* Open the template library of cfg->template_lib (files are loaded on first
 * use per setup). */
int rvs_context_create(const rvs_config *cfg, const rvs_options *opt, rvs_context **out);
void rvs_context_free(rvs_context *ctx);

/* Names of the template parameters of a setup, e.g. teff, logg, feh, alpha. */
int rvs_context_parnames(rvs_context *ctx, const char *setup, int *nparam,
                         const char *names[RVS_MAX_PARAMS]);

/* -2 ln L of a spectrum for one template (upstream spec_fit.get_chisq):
 * params in the interpolator's order; vsini < 0: no rotation.  info (may be
 * NULL) receives per-arm true chi-squares and pixel counts. */
typedef struct rvs_chisq_info {
  int narms;
  double chisq_arm[RVS_MAXARMS];
  long npix_arm[RVS_MAXARMS];
} rvs_chisq_info;
int rvs_get_chisq(rvs_context *ctx, const rvs_spectrum *spec, double vel, const double *params,
                  double vsini, double *m2lnl, rvs_chisq_info *info);

/* Optional starting point; NULL in the fit calls means options.param_init. */
typedef struct rvs_start {
  double params[RVS_MAX_PARAMS];
  double vsini;       /* < 0 or NaN: no rotation */
} rvs_start;

typedef struct rvs_fit_output {
  int status;                       /* RVS_OK, or why this spectrum failed: */
  char message[256];                /* ... the error message ("" when fine) */
  double vel, vel_err, vel_skewness, vel_kurtosis;  /* km/s */
  int has_vsini;
  double vsini;                     /* km/s */
  int nparam;
  double param[RVS_MAX_PARAMS], param_err[RVS_MAX_PARAMS];
  double chisq;                     /* -2 ln L at the best fit */
  int narms;
  double chisq_arm[RVS_MAXARMS];    /* true chi2 over unmasked pixels, template fit */
  double chisq_c_arm[RVS_MAXARMS];  /* the same for the continuum-only fit */
  long npix_arm[RVS_MAXARMS];
  double vel_ccf;                   /* CCF velocity (NaN without CCF) */
  int minimize_success, bad_hessian;
  long nevals;                      /* likelihood evaluations the fit asked for (repeated
                                     * points among them answered from its memo) */
} rvs_fit_output;

int rvs_fit_one(rvs_context *ctx, const rvs_spectrum *spec, const rvs_start *start,
                rvs_fit_output *out);

/* n spectra at once; starts may be NULL.  models (may be NULL): models[i][arm]
 * receives the best-fit model of arm `arm` of spectrum i (n values each). */
int rvs_fit_batch(rvs_context *ctx, const rvs_spectrum *specs, size_t n, const rvs_start *starts,
                  rvs_fit_output *outs, double *const (*models)[RVS_MAXARMS]);

/* Streaming: spectra come in chunks (one file each, say) and every chunk is
 * handed back when all its spectra are fitted.  Chunks overlap in the pool of
 * fits in flight, so the backend stays busy across chunk boundaries (no tail of
 * a few slow fits per file).  rvs_fit_batch is a stream of one chunk. */
typedef struct rvs_fit_chunk {
  const rvs_spectrum *specs;              /* n spectra, valid until done() */
  size_t n;
  const rvs_start *starts;                /* may be NULL: options.param_init */
  rvs_fit_output *outs;                   /* n outputs, filled before done() */
  double *const (*models)[RVS_MAXARMS];   /* may be NULL (see rvs_fit_batch) */
  void *user;                             /* the caller's */
} rvs_fit_chunk;

typedef struct rvs_stream_callbacks {
  /* Fill *chunk with the next chunk: return 1; 2 for "nothing now" (asked
   * again after the next round; to bound the chunks in flight); 0 when there
   * are no more; or an rvs_status < 0 to stop the stream with that error. */
  int (*next)(void *user, rvs_fit_chunk *chunk);
  /* Every chunk taken comes back exactly once: status RVS_OK when its
   * outputs are filled (per-spectrum failures are in outs[i].status), else
   * the error that stopped the stream or failed the whole chunk. */
  void (*done)(void *user, rvs_fit_chunk *chunk, int status);
  /* Optional, polled between rounds: nonzero stops the stream
   * (RVS_ERR_INTERRUPTED). */
  int (*abort)(void *user);
  void *user;
} rvs_stream_callbacks;

int rvs_fit_stream(rvs_context *ctx, const rvs_stream_callbacks *cb);

/* Fits in flight per round, as the context uses it (options.pool, or the
 * backend's default). */
int rvs_context_pool(const rvs_context *ctx);
/* Where the time of the fits went, summed over every rvs_fit_stream /
 * rvs_fit_batch call of the context (seconds of wall time). */
enum { RVS_ROUND_BUCKETS = 10 };
enum { RVS_TIME_SCAN = 0, RVS_TIME_MINIMISER, RVS_TIME_SAMPLER, RVS_TIME_HESSIAN, RVS_TIME_OTHER,
       RVS_TIME_NPHASES };
typedef struct rvs_timing {
  double total_seconds;      /* inside the fit calls (includes the callbacks' time) */
  double start_seconds;      /* starting points (CCF or brute force) */
  double eval_seconds;       /* inside the backend's evaluate */
  double phase_seconds[RVS_TIME_NPHASES]; /* eval_seconds by fit phase: velocity scan,
                                * minimiser (Nelder-Mead, BFGS), RV-error sampler, Hessian,
                                * other (best-fit model, continuum-only fit) */
  long phase_requests[RVS_TIME_NPHASES];
  long rounds, requests, fits;
  long memo_hits;            /* requests answered from the fit's memo of earlier answers
                              * (identical points asked again), not by the backend */
  /* rounds by their number of requests, in factors of 4: bucket k holds the
   * rounds with 4^k <= requests < 4^(k+1) (the last one: all above); their
   * count, requests and evaluate seconds.  Shows whether the time goes into
   * few large rounds (throughput) or many small ones (latency). */
  long size_rounds[RVS_ROUND_BUCKETS], size_requests[RVS_ROUND_BUCKETS];
  double size_seconds[RVS_ROUND_BUCKETS];
} rvs_timing;
void rvs_context_timing(const rvs_context *ctx, rvs_timing *t);

/* "cpu" or "cuda". */
const char *rvs_context_backend_name(const rvs_context *ctx);

#ifdef __cplusplus
}
#endif
#endif
