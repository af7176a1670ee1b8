/* The HDF5 serializer layout of upstream rvspecfit (io/h5ser): round trips
 * of every `type`, files written by upstream's serializer.py (h5py) read by
 * us, and ours read by upstream's loader. */
#include "rvs_test.h"

#include <hdf5.h>

#include "io/h5ser.h"
#include "rvs/status.h"
#include "test_prep_grid.h"

#define SCR RVS_TEST_SCRATCH "/test_h5ser"
#define SCRIPT RVS_SOURCE_DIR "/tests/scripts/prep_serializer.py"

static const double ARR_F64[6] = {1.5, -2.25, 3.0, 4.0, 5.5, -6.125};
static const int64_t ARR_I64[3] = {3, -1, 7};
static const uint8_t ARR_BOOL[3] = {1, 0, 1};
static const char PICKLE_SET7[] = "\x80\x02" "c__builtin__\nset\nq\x00]q\x01K\x07" "a\x85q\x02Rq\x03.";
static const char *UNI = "Hello world \xc3\xbc" "n\xc3\xaf" "code";

/* The reference dict of tests/scripts/prep_serializer.py. */
static rvs_h5s *build_reference(int with_empty) {
  rvs_h5s *r = rvs_h5s_new_dict();
  assert_non_null(r);
  size_t d23[2] = {2, 3}, d5[1] = {5}, d3[1] = {3}, d12[2] = {1, 2};
  float f32[5] = {0, 0.5f, 1, 1.5f, 2};
  double lst[3] = {1.1, 2.2, 3.3};
  int64_t tup[3] = {1, 2, 3}, margs[2] = {0, 3};
  const char *names[2] = {"teff", "logg"}, *ls[2] = {"test", "example"};
  assert_int_equal(rvs_h5s_add_array(r, "arr_f64", RVS_H5S_NDARRAY, RVS_H5S_F64, 2, d23, ARR_F64), 0);
  assert_int_equal(rvs_h5s_add_array(r, "arr_f32", RVS_H5S_NDARRAY, RVS_H5S_F32, 1, d5, f32), 0);
  assert_int_equal(rvs_h5s_add_array(r, "arr_i64", RVS_H5S_NDARRAY, RVS_H5S_I64, 1, d3, ARR_I64), 0);
  assert_int_equal(rvs_h5s_add_array(r, "arr_bool", RVS_H5S_NDARRAY, RVS_H5S_BOOL, 1, d3, ARR_BOOL), 0);
  assert_int_equal(rvs_h5s_add_strings(r, "arr_str", RVS_H5S_NDARRAY, names, 2), 0);
  assert_int_equal(rvs_h5s_add_str(r, "s", UNI), 0);
  assert_int_equal(rvs_h5s_add_f64(r, "x_f", 2.5), 0);
  assert_int_equal(rvs_h5s_add_i64(r, "x_i", 42), 0);
  assert_int_equal(rvs_h5s_add_bool(r, "x_b", 1), 0);
  assert_int_equal(rvs_h5s_add_none(r, "none"), 0);
  assert_int_equal(rvs_h5s_add_array(r, "lst", RVS_H5S_LIST, RVS_H5S_F64, 1, d3, lst), 0);
  assert_int_equal(rvs_h5s_add_array(r, "tup", RVS_H5S_TUPLE, RVS_H5S_I64, 1, d3, tup), 0);
  assert_int_equal(rvs_h5s_add_strings(r, "lst_str", RVS_H5S_LIST, ls, 2), 0);
  if (with_empty) assert_int_equal(rvs_h5s_add_empty(r, "empty_l"), 0);
  assert_int_equal(rvs_h5s_add_array(r, "mapper_args", RVS_H5S_TUPLE, RVS_H5S_I64, 2, d12, margs), 0);
  rvs_h5s *g = NULL;
  assert_int_equal(rvs_h5s_add_group(r, "mixed", RVS_H5S_FLATTENED_TUPLE, &g), 0);
  assert_int_equal(rvs_h5s_add_i64(g, "__item_0", 1), 0);
  assert_int_equal(rvs_h5s_add_str(g, "__item_1", "x"), 0);
  assert_int_equal(rvs_h5s_add_group(r, "with_none", RVS_H5S_FLATTENED_LIST, &g), 0);
  assert_int_equal(rvs_h5s_add_none(g, "__item_0"), 0);
  assert_int_equal(rvs_h5s_add_i64(g, "__item_1", 3), 0);
  rvs_h5s *nest = NULL, *b = NULL;
  assert_int_equal(rvs_h5s_add_group(r, "nested", RVS_H5S_DICT, &nest), 0);
  assert_int_equal(rvs_h5s_add_i64(nest, "a", 55), 0);
  assert_int_equal(rvs_h5s_add_group(nest, "b", RVS_H5S_DICT, &b), 0);
  assert_int_equal(rvs_h5s_add_str(b, "c", "deep"), 0);
  assert_int_equal(rvs_h5s_add_pickle(r, "pick", PICKLE_SET7, sizeof PICKLE_SET7 - 1), 0);
  return r;
}

static const rvs_h5s *child(const rvs_h5s *p, const char *name, rvs_h5s_type type) {
  const rvs_h5s *n = rvs_h5s_get(p, name);
  if (!n) fail_msg("no key '%s'", name);
  if (n->type != type)
    fail_msg("'%s' has type %s, expected %s", name, rvs_h5s_type_name(n->type),
             rvs_h5s_type_name(type));
  return n;
}

static void check_num(const rvs_h5s *n, const double *expect, size_t count) {
  double *v = NULL;
  assert_int_equal(n->nelem, count);
  assert_int_equal(rvs_h5s_to_f64(n, &v), 0);
  for (size_t i = 0; i < count; i++) assert_true(v[i] == expect[i]);
  free(v);
}

static const char *str_at(const rvs_h5s *n, size_t i) {
  assert_int_equal(n->dtype, RVS_H5S_STRING);
  return ((char **)n->data)[i];
}

/* Check a tree read back against the reference dict (pickle_exact: the
 * pickle bytes are ours, else only their protocol marker is checked). */
static void check_reference(const rvs_h5s *r, int pickle_exact, int with_empty) {
  const rvs_h5s *n = child(r, "arr_f64", RVS_H5S_NDARRAY);
  assert_int_equal(n->dtype, RVS_H5S_F64);
  assert_int_equal(n->rank, 2);
  assert_int_equal(n->dims[0], 2);
  assert_int_equal(n->dims[1], 3);
  check_num(n, ARR_F64, 6);
  n = child(r, "arr_f32", RVS_H5S_NDARRAY);
  assert_int_equal(n->dtype, RVS_H5S_F32);
  check_num(n, (const double[]){0, 0.5, 1, 1.5, 2}, 5);
  n = child(r, "arr_i64", RVS_H5S_NDARRAY);
  assert_int_equal(n->dtype, RVS_H5S_I64);
  check_num(n, (const double[]){3, -1, 7}, 3);
  n = child(r, "arr_bool", RVS_H5S_NDARRAY);
  assert_int_equal(n->dtype, RVS_H5S_BOOL);
  check_num(n, (const double[]){1, 0, 1}, 3);
  n = child(r, "arr_str", RVS_H5S_NDARRAY);
  assert_int_equal(n->nelem, 2);
  assert_string_equal(str_at(n, 0), "teff");
  assert_string_equal(str_at(n, 1), "logg");
  n = child(r, "s", RVS_H5S_STR);
  assert_int_equal(n->rank, 0);
  assert_string_equal(str_at(n, 0), UNI);
  n = child(r, "x_f", RVS_H5S_SCALAR);
  assert_int_equal(n->dtype, RVS_H5S_F64);
  check_num(n, (const double[]){2.5}, 1);
  n = child(r, "x_i", RVS_H5S_SCALAR);
  assert_int_equal(n->dtype, RVS_H5S_I64);
  check_num(n, (const double[]){42}, 1);
  n = child(r, "x_b", RVS_H5S_SCALAR);
  assert_int_equal(n->dtype, RVS_H5S_BOOL);
  check_num(n, (const double[]){1}, 1);
  child(r, "none", RVS_H5S_NONE);
  n = child(r, "lst", RVS_H5S_LIST);
  check_num(n, (const double[]){1.1, 2.2, 3.3}, 3);
  n = child(r, "tup", RVS_H5S_TUPLE);
  check_num(n, (const double[]){1, 2, 3}, 3);
  n = child(r, "lst_str", RVS_H5S_LIST);
  assert_string_equal(str_at(n, 0), "test");
  assert_string_equal(str_at(n, 1), "example");
  if (with_empty) {
    n = child(r, "empty_l", RVS_H5S_EMPTY_ARRAY);
    assert_int_equal(n->nelem, 0);
  }
  n = child(r, "mapper_args", RVS_H5S_TUPLE);
  assert_int_equal(n->rank, 2);
  assert_int_equal(n->dims[0], 1);
  check_num(n, (const double[]){0, 3}, 2);
  const rvs_h5s *g = child(r, "mixed", RVS_H5S_FLATTENED_TUPLE);
  check_num(child(g, "__item_0", RVS_H5S_SCALAR), (const double[]){1}, 1);
  assert_string_equal(str_at(child(g, "__item_1", RVS_H5S_STR), 0), "x");
  assert_ptr_equal(rvs_h5s_item(g, 1), rvs_h5s_get(g, "__item_1"));
  g = child(r, "with_none", RVS_H5S_FLATTENED_LIST);
  child(g, "__item_0", RVS_H5S_NONE);
  check_num(child(g, "__item_1", RVS_H5S_SCALAR), (const double[]){3}, 1);
  g = child(r, "nested", RVS_H5S_DICT);
  check_num(child(g, "a", RVS_H5S_SCALAR), (const double[]){55}, 1);
  assert_string_equal(str_at(child(child(g, "b", RVS_H5S_DICT), "c", RVS_H5S_STR), 0), "deep");
  n = child(r, "pick", RVS_H5S_PICKLE);
  assert_int_equal(n->dtype, RVS_H5S_OPAQUE);
  assert_true(n->nelem > 2);
  assert_int_equal(((const unsigned char *)n->data)[0], 0x80); /* pickle protocol marker */
  if (pickle_exact) {
    assert_int_equal(n->nelem, sizeof PICKLE_SET7 - 1);
    assert_memory_equal(n->data, PICKLE_SET7, n->nelem);
  }
}

static void round_trip_every_type(void **state) {
  (void)state;
  assert_int_equal(rvs_mkdir_p(SCR), 0);
  rvs_h5s *r = build_reference(1);
  const char *path = SCR "/roundtrip.h5";
  assert_int_equal(rvs_h5s_write(path, r), RVS_OK);
  rvs_h5s_free(r);
  rvs_h5s *back = NULL;
  assert_int_equal(rvs_h5s_read(path, NULL, &back), RVS_OK);
  check_reference(back, 1, 1);
  assert_int_equal(back->nchild, 19);
  rvs_h5s_free(back);
}

/* Doubles stored as float32 round like numpy's astype(float32); lazy
 * datasets carry a shape but no data, and load as double. */
static void float32_storage_and_lazy(void **state) {
  (void)state;
  assert_int_equal(rvs_mkdir_p(SCR), 0);
  double v[4] = {1.0 / 3.0, -2.0e-8, 12345.678901234, 0.1};
  size_t d[2] = {2, 2};
  rvs_h5s *r = rvs_h5s_new_dict();
  assert_int_equal(rvs_h5s_add_array_ref(r, "specs", RVS_H5S_NDARRAY, RVS_H5S_F64, RVS_H5S_F32, 2,
                                         d, v),
                   0);
  const char *path = SCR "/f32.h5";
  assert_int_equal(rvs_h5s_write(path, r), RVS_OK);
  rvs_h5s_free(r);
  static const char *const lazy[] = {"specs", NULL};
  rvs_h5s *back = NULL;
  assert_int_equal(rvs_h5s_read(path, lazy, &back), RVS_OK);
  const rvs_h5s *n = rvs_h5s_get(back, "specs");
  assert_non_null(n);
  assert_null(n->data);
  assert_int_equal(n->file_dtype, RVS_H5S_F32);
  assert_int_equal(n->dims[0], 2);
  double out[4];
  assert_int_equal(rvs_h5s_read_f64(path, "specs", out, 4), RVS_OK);
  for (int i = 0; i < 4; i++) assert_true(out[i] == (double)(float)v[i]);
  assert_int_equal(rvs_h5s_read_f64(path, "specs", out, 3), RVS_ERR_FORMAT);
  rvs_h5s_free(back);
}

/* A file written by upstream's serializer (h5py) reads as the same dict. */
static void reads_upstream_file(void **state) {
  (void)state;
  PREP_REQUIRE_UPSTREAM();
  assert_int_equal(rvs_mkdir_p(SCR), 0);
  const char *path = SCR "/from_upstream.h5";
  unlink(path);
  assert_int_equal(prep_sh("python3 " SCRIPT " write " SCR "/from_upstream.h5 2>/dev/null"), 0);
  rvs_h5s *r = NULL;
  assert_int_equal(rvs_h5s_read(path, NULL, &r), RVS_OK);
  check_reference(r, 0, 0);
  rvs_h5s_free(r);
}

/* Upstream's loader reads our file as the same dict, types included. */
static void upstream_reads_ours(void **state) {
  (void)state;
  PREP_REQUIRE_UPSTREAM();
  assert_int_equal(rvs_mkdir_p(SCR), 0);
  rvs_h5s *r = build_reference(1);
  assert_int_equal(rvs_h5s_write(SCR "/for_upstream.h5", r), RVS_OK);
  rvs_h5s_free(r);
  assert_int_equal(prep_sh("python3 " SCRIPT " verify " SCR "/for_upstream.h5"), 0);
}

/* Version other than 1, a dataset without `type`, a missing file, a bad
 * output folder (no file left behind), duplicate keys. */
static void rejects_bad_files(void **state) {
  (void)state;
  assert_int_equal(rvs_mkdir_p(SCR), 0);
  const char *path = SCR "/v2.h5";
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(f >= 0);
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(f, "version", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
  int64_t two = 2;
  H5Awrite(a, H5T_NATIVE_INT64, &two);
  H5Aclose(a);
  hid_t ds = H5Dcreate2(f, "x", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  double one = 1;
  H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &one);
  H5Dclose(ds);
  H5Sclose(sp);
  H5Fclose(f);
  rvs_h5s *r = NULL;
  assert_int_equal(rvs_h5s_read(path, NULL, &r), RVS_ERR_FORMAT);
  assert_non_null(strstr(rvs_last_error(), "version 2"));
  assert_non_null(strstr(rvs_last_error(), "v2.h5"));
  /* version 1 but no type attribute */
  f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  a = H5Aopen(f, "version", H5P_DEFAULT);
  int64_t v1 = 1;
  H5Awrite(a, H5T_NATIVE_INT64, &v1);
  H5Aclose(a);
  H5Fclose(f);
  assert_int_equal(rvs_h5s_read(path, NULL, &r), RVS_ERR_FORMAT);
  assert_non_null(strstr(rvs_last_error(), "'type'"));
  assert_int_equal(rvs_h5s_read(SCR "/no_such.h5", NULL, &r), RVS_ERR_IO);
  assert_null(r);

  r = rvs_h5s_new_dict();
  assert_int_equal(rvs_h5s_add_f64(r, "a", 1), 0);
  assert_int_equal(rvs_h5s_add_f64(r, "a", 2), RVS_ERR_ARG);
  assert_int_equal(rvs_h5s_add_f64(r, "a/b", 2), RVS_ERR_ARG);
  assert_int_equal(rvs_h5s_write(SCR "/no/such/dir/x.h5", r), RVS_ERR_IO);
  assert_int_equal(access(SCR "/no/such/dir", F_OK), -1);
  rvs_h5s_free(r);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(round_trip_every_type),
    cmocka_unit_test(float32_storage_and_lazy),
    cmocka_unit_test(reads_upstream_file),
    cmocka_unit_test(upstream_reads_ours),
    cmocka_unit_test(rejects_bad_files),
};

RVS_TEST_MAIN(tests)
