#include "rvs/config.h"

#include "rvs/log.h"
#include "rvs/status.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

void rvs_config_defaults(rvs_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  strcpy(cfg->template_lib, "templ_data/");
  cfg->min_vel = -1000;
  cfg->max_vel = 1000;
  cfg->vel_step0 = 5;
  cfg->min_vel_step = 0.2;
  cfg->max_vsini = 500;
  cfg->min_vsini = 1e-2;
  cfg->second_minimizer = 1;
  cfg->ccf_continuum_normalize = 1;
}

static int parse_double(const char *path, const char *key, const char *val, double *out) {
  char *end = NULL;
  errno = 0;
  double v = strtod(val, &end);
  while (end && *end == ' ') end++;
  if (end == val || (end && *end) || errno == ERANGE)
    return rvs_error(RVS_ERR_FORMAT, "%s: key '%s': '%s' is not a number", path, key, val);
  *out = v;
  return RVS_OK;
}

/* YAML 1.1 booleans as PyYAML's safe_load reads them, plus integers. */
static int parse_bool(const char *path, const char *key, const char *val, int *out) {
  static const char *yes[] = {"true", "yes", "on", "y"};
  static const char *no[] = {"false", "no", "off", "n"};
  for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
    if (strcasecmp(val, yes[i]) == 0) { *out = 1; return RVS_OK; }
  for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
    if (strcasecmp(val, no[i]) == 0) { *out = 0; return RVS_OK; }
  double d = 0;
  if (parse_double(path, key, val, &d) == RVS_OK) { *out = d != 0; return RVS_OK; }
  return rvs_error(RVS_ERR_FORMAT, "%s: key '%s': '%s' is not a boolean", path, key, val);
}

static int set_scalar(rvs_config *cfg, const char *path, const char *key, const char *val) {
  if (strcmp(key, "template_lib") == 0) {
    if (strlen(val) >= sizeof cfg->template_lib)
      return rvs_error(RVS_ERR_FORMAT, "%s: template_lib path too long", path);
    strcpy(cfg->template_lib, val);
    return RVS_OK;
  }
  struct { const char *k; double *p; } dbl[] = {
      {"min_vel", &cfg->min_vel},       {"max_vel", &cfg->max_vel},
      {"vel_step0", &cfg->vel_step0},   {"min_vel_step", &cfg->min_vel_step},
      {"max_vsini", &cfg->max_vsini},   {"min_vsini", &cfg->min_vsini}};
  for (size_t i = 0; i < sizeof dbl / sizeof dbl[0]; i++)
    if (strcmp(key, dbl[i].k) == 0) return parse_double(path, key, val, dbl[i].p);
  if (strcmp(key, "second_minimizer") == 0) return parse_bool(path, key, val, &cfg->second_minimizer);
  if (strcmp(key, "ccf_continuum_normalize") == 0)
    return parse_bool(path, key, val, &cfg->ccf_continuum_normalize);
  if (cfg->n_extra >= RVS_CONFIG_MAX_EXTRA ||
      strlen(key) >= sizeof cfg->extra_key[0] || strlen(val) >= sizeof cfg->extra_val[0]) {
    rvs_log(RVS_LOG_WARNING, "%s: ignoring key '%s'", path, key);
    return RVS_OK;
  }
  rvs_log(RVS_LOG_DEBUG, "%s: unknown key '%s' kept verbatim", path, key);
  strcpy(cfg->extra_key[cfg->n_extra], key);
  strcpy(cfg->extra_val[cfg->n_extra], val);
  cfg->n_extra++;
  return RVS_OK;
}

/* Parse the document: a top-level mapping of scalars, and the one nested
 * mapping lsf_sigma0_angstrom: {arm: sigma}. */
static int parse_yaml(FILE *fp, const char *path, rvs_config *cfg) {
  yaml_parser_t parser;
  yaml_event_t ev;
  if (!yaml_parser_initialize(&parser)) return rvs_error(RVS_ERR_NOMEM, "%s: YAML parser init failed", path);
  yaml_parser_set_input_file(&parser, fp);
  int rc = RVS_OK;
  int depth = 0;          /* mapping depth */
  int in_lsf = 0;         /* inside lsf_sigma0_angstrom */
  int seen_root = 0, done = 0;
  char key[256] = "";
  int have_key = 0;
  char sub_key[64] = "";
  int have_sub_key = 0;
  int skip_depth = 0;     /* >0: skipping an unsupported nested structure */
  while (!done && rc == RVS_OK) {
    if (!yaml_parser_parse(&parser, &ev)) {
      rc = rvs_error(RVS_ERR_FORMAT, "%s: YAML error at line %lu: %s", path,
                     (unsigned long)parser.problem_mark.line + 1,
                     parser.problem ? parser.problem : "syntax error");
      break;
    }
    switch (ev.type) {
    case YAML_STREAM_END_EVENT: done = 1; break;
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT:
      if (skip_depth) { skip_depth++; break; }
      if (depth == 0) {
        if (ev.type != YAML_MAPPING_START_EVENT) {
          rc = rvs_error(RVS_ERR_FORMAT, "%s: top level is not a mapping of keys", path);
          break;
        }
        seen_root = 1;
        depth = 1;
      } else if (depth == 1 && have_key && strcmp(key, "lsf_sigma0_angstrom") == 0 &&
                 ev.type == YAML_MAPPING_START_EVENT) {
        in_lsf = 1;
        depth = 2;
        cfg->n_lsf = 0;
      } else {
        rvs_log(RVS_LOG_WARNING, "%s: ignoring nested value of key '%s'", path, key);
        skip_depth = 1;
      }
      break;
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
      if (skip_depth) {
        if (--skip_depth == 0) have_key = 0;
        break;
      }
      if (depth == 2) { in_lsf = 0; depth = 1; have_key = 0; }
      else depth--;
      break;
    case YAML_SCALAR_EVENT: {
      if (skip_depth) break;
      const char *val = (const char *)ev.data.scalar.value;
      if (depth == 1) {
        if (!have_key) {
          snprintf(key, sizeof key, "%s", val);
          have_key = 1;
        } else {
          rc = set_scalar(cfg, path, key, val);
          have_key = 0;
        }
      } else if (depth == 2 && in_lsf) {
        if (!have_sub_key) {
          snprintf(sub_key, sizeof sub_key, "%s", val);
          have_sub_key = 1;
        } else {
          if (cfg->n_lsf >= RVS_CONFIG_MAX_ARMS) {
            rc = rvs_error(RVS_ERR_FORMAT, "%s: too many lsf_sigma0_angstrom entries", path);
          } else {
            double s = 0;
            rc = parse_double(path, "lsf_sigma0_angstrom", val, &s);
            if (rc == RVS_OK) {
              snprintf(cfg->lsf_arm[cfg->n_lsf], sizeof cfg->lsf_arm[0], "%s", sub_key);
              cfg->lsf_sigma0[cfg->n_lsf++] = s;
            }
          }
          have_sub_key = 0;
        }
      } else if (depth == 0) {
        /* A scalar document: an empty file gives a null scalar here. */
        if (val[0] && strcmp(val, "~") != 0 && strcasecmp(val, "null") != 0)
          rc = rvs_error(RVS_ERR_FORMAT, "%s: top level is not a mapping of keys", path);
      }
      break;
    }
    default: break;
    }
    yaml_event_delete(&ev);
  }
  yaml_parser_delete(&parser);
  if (rc == RVS_OK && !seen_root)
    rvs_log(RVS_LOG_WARNING, "Configuration file %s is empty. Using default settings", path);
  return rc;
}

int rvs_config_read(const char *path, rvs_config *cfg) {
  rvs_config_defaults(cfg);
  const char *fname = path ? path : "config.yaml";
  FILE *fp = fopen(fname, "r");
  if (!fp) {
    if (path) return rvs_error(RVS_ERR_IO, "Configuration file '%s' not found", path);
    rvs_log(RVS_LOG_WARNING, "Configuration file 'config.yaml' not found. Using default settings");
    return RVS_OK;
  }
  int rc = parse_yaml(fp, fname, cfg);
  fclose(fp);
  if (rc) return rc;
  char abspath[PATH_MAX];
  if (realpath(fname, abspath)) snprintf(cfg->config_file_path, sizeof cfg->config_file_path, "%s", abspath);
  return RVS_OK;
}

double rvs_config_lsf_sigma0(const rvs_config *cfg, const char *arm) {
  const char *a = arm;
  if (strncmp(a, "desi_", 5) == 0) a += 5;
  for (int i = 0; i < cfg->n_lsf; i++) {
    const char *k = cfg->lsf_arm[i];
    if (strncmp(k, "desi_", 5) == 0) k += 5;
    if (strcmp(k, a) == 0) return cfg->lsf_sigma0[i];
  }
  rvs_log(RVS_LOG_WARNING, "lsf_sigma0_angstrom not configured for arm %s: assuming 0.5 A", arm);
  return 0.5;
}

const char *rvs_config_get(const rvs_config *cfg, const char *key) {
  for (int i = 0; i < cfg->n_extra; i++)
    if (strcmp(cfg->extra_key[i], key) == 0) return cfg->extra_val[i];
  return NULL;
}
