/* Logging through a replaceable callback.  The default callback writes
 * "rvspecfit-c <LEVEL>: message" lines to stderr for levels at or above the
 * threshold (default RVS_LOG_WARNING, as upstream's --log_level default). */
#ifndef RVS_LOG_H
#define RVS_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rvs_log_level {
  RVS_LOG_DEBUG = 10,
  RVS_LOG_INFO = 20,
  RVS_LOG_WARNING = 30,
  RVS_LOG_ERROR = 40
} rvs_log_level;

typedef void (*rvs_log_fn)(int level, const char *msg, void *user);

void rvs_log(int level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Replace the sink (NULL restores the default stderr sink). */
void rvs_set_log_callback(rvs_log_fn fn, void *user);
void rvs_set_log_level(int level);
int rvs_get_log_level(void);
/* Parse "DEBUG", "INFO", "WARNING", "ERROR" (case-insensitive); -1 if unknown. */
int rvs_parse_log_level(const char *name);

#ifdef __cplusplus
}
#endif
#endif
