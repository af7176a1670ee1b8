/* Banded resolution matrices (src/core/resolution.c): storage and apply vs
 * dense products, Gaussian rows vs moments and upstream construct_resol_mat,
 * DESI storage convention vs an independent dense scipy-DIA construction,
 * DESI deconvolution vs upstream desi_fit.construct_resolution_sparse_matrix
 * (values hard-coded) and vs its purpose (R' applied to a template that
 * carries the LSF reproduces R applied to the bare template). */
#include "rvs_test.h"

#include <stdlib.h>

#include "core/resolution.h"
#include "rvs/status.h"

static double urand(unsigned long long *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* dense[i][c] from a band, written straight from the storage definition */
static double band_at(const rvs_banded *b, size_t i, long c) {
  long m = c - (long)i + b->half;
  if (m < 0 || m >= b->nd) return 0.0;
  return b->w[i * b->nd + m];
}

static void test_banded_apply_vs_dense(void **state) {
  (void)state;
  const size_t sizes[3] = {50, 3, 7};
  const int nds[3] = {7, 7, 7};
  for (int t = 0; t < 3; t++) {
    size_t n = sizes[t];
    rvs_banded R;
    assert_int_equal(rvs_banded_alloc(&R, n, nds[t]), RVS_OK);
    assert_int_equal(R.half, 3);
    unsigned long long s = 11 + t;
    /* fill only in-range cells (the documented invariant) */
    for (size_t i = 0; i < n; i++)
      for (int m = 0; m < R.nd; m++) {
        long c = (long)i + m - R.half;
        R.w[i * R.nd + m] = (c >= 0 && c < (long)n) ? urand(&s) : 0.0;
      }
    double *x = malloc(n * sizeof(double)), *y = malloc(n * sizeof(double));
    assert_non_null(x);
    assert_non_null(y);
    for (size_t i = 0; i < n; i++) x[i] = urand(&s);
    rvs_banded_apply(&R, x, y);
    for (size_t i = 0; i < n; i++) {
      long double ref = 0;
      for (size_t c = 0; c < n; c++) ref += (long double)band_at(&R, i, (long)c) * x[c];
      assert_close_abs(y[i], (double)ref, 1e-14);
    }
    free(x);
    free(y);
    rvs_banded_free(&R);
    assert_null(R.w);
  }
  rvs_banded R;
  assert_int_equal(rvs_banded_alloc(&R, 10, 4), RVS_ERR_ARG); /* even width */
}

/* The diagonal-major product is bit-for-bit rvs_banded_apply (odd sizes,
 * bands wider than the matrix, random taps and signs). */
static void test_banded_apply_diag_bitwise(void **state) {
  (void)state;
  const size_t sizes[6] = {1, 3, 10, 11, 257, 2751};
  const int nds[6] = {1, 11, 11, 5, 11, 11};
  unsigned long long s = 99;
  for (int t = 0; t < 6; t++) {
    size_t n = sizes[t];
    rvs_banded R;
    assert_int_equal(rvs_banded_alloc(&R, n, nds[t]), RVS_OK);
    for (size_t i = 0; i < n; i++)
      for (int m = 0; m < R.nd; m++) {
        long c = (long)i + m - R.half;
        R.w[i * R.nd + m] = (c >= 0 && c < (long)n) ? urand(&s) - 0.3 : 0.0;
      }
    double *wt = rvs_banded_diag_alloc(&R);
    double *x = malloc(n * sizeof(double)), *y = malloc(n * sizeof(double)),
           *z = malloc(n * sizeof(double));
    assert_non_null(wt);
    assert_true(x && y && z);
    for (size_t i = 0; i < n; i++) x[i] = 1e3 * (urand(&s) - 0.5);
    rvs_banded_apply(&R, x, y);
    rvs_banded_apply_diag(&R, wt, x, z);
    assert_memory_equal(y, z, n * sizeof(double));
    free(wt);
    free(x);
    free(y);
    free(z);
    rvs_banded_free(&R);
  }
}

static void test_gaussian_rows_moments(void **state) {
  (void)state;
  enum { n = 200 };
  double lam[n], sig[n];
  for (int i = 0; i < n; i++) {
    lam[i] = 5000.0 + i; /* 1 A pixels */
    sig[i] = 2.5;
  }
  rvs_banded R;
  assert_int_equal(rvs_banded_gaussian(lam, n, sig, &R), RVS_OK);
  /* 5 sigma = 12.5 px; searchsorted 'right' rounds the right edge up to 13 */
  assert_int_equal(R.half, 13);
  for (int i = 0; i < n; i++) {
    long double s0 = 0, s1 = 0, s2 = 0, ref2 = 0, refn = 0;
    for (int m = 0; m < R.nd; m++) {
      double w = R.w[(size_t)i * R.nd + m];
      long x = i + m - R.half;
      if (x < 0 || x >= n) {
        assert_true(w == 0.0);
        continue;
      }
      long double d = x - i;
      s0 += w;
      s1 += w * d;
      s2 += w * d * d;
      long double g = expl(-0.5L * d * d / (2.5L * 2.5L));
      refn += g;
      ref2 += g * d * d;
    }
    assert_close_abs((double)s0, 1.0, 1e-14);
    if (i >= R.half && i < n - R.half) {
      assert_close_abs((double)s1, 0.0, 1e-13);
      assert_close_rel((double)s2, (double)(ref2 / refn), 1e-13, 1e-300);
      assert_close_rel((double)s2, 2.5 * 2.5, 1e-4, 1e-300); /* truncation ~1e-5 */
    }
  }
  rvs_banded_free(&R);
}

/* upstream construct_resol_mat(lam, resol=lam/(1.5+0.05 i)), lam_i = 6000 +
 * 0.5 i + 0.01 i^2, n = 30: band half-width 6, rows 0, 1, 15, 29 */
static const double up_gauss_rows[4][13] = {
    {0, 0, 0, 0, 0, 0, 0.49014914990829639, 0.35620600611704006, 0.12997552672876903, 0.022024803109126311, 0.0015983658001119611, 4.5677094407481354e-05, 4.7124224873681133e-07},
    {0, 0, 0, 0, 0, 0.26730600015765554, 0.36044275257784664, 0.26099157806473994, 0.094326490950754266, 0.015772999491424938, 0.0011280460110495907, 3.1807665354293703e-05, 3.2508117471707413e-07},
    {7.1215898541007448e-06, 0.00015530987705078417, 0.0021535995551354554, 0.018125607467504926, 0.088273714767745898, 0.23684401621231374, 0.33288794699775354, 0.23274604833267526, 0.076769833115328104, 0.011314356231140304, 0.00070475554261117469, 1.75261479244238e-05, 1.641629622848461e-07},
    {3.4794788332717583e-06, 0.00011166546707332259, 0.0020796886477167766, 0.021646215754473341, 0.12116261428523721, 0.3506923760581121, 0.50430396030855396, 0, 0, 0, 0, 0, 0},
};

static void test_gaussian_matches_upstream(void **state) {
  (void)state;
  enum { n = 30 };
  double lam[n], sig[n];
  for (int i = 0; i < n; i++) {
    lam[i] = 6000 + 0.5 * i + 0.01 * i * i;
    double resol = lam[i] / (1.5 + 0.05 * i);
    sig[i] = lam[i] / resol / 2.35;
  }
  rvs_banded R;
  assert_int_equal(rvs_banded_gaussian(lam, n, sig, &R), RVS_OK);
  assert_int_equal(R.nd, 13);
  const int rows[4] = {0, 1, 15, 29};
  for (int r = 0; r < 4; r++)
    for (int m = 0; m < 13; m++)
      assert_close_rel(R.w[(size_t)rows[r] * 13 + m], up_gauss_rows[r][m], 1e-13, 1e-300);
  rvs_banded_free(&R);
}

static double resol_half_lambda(double x, void *ctx) {
  (void)ctx;
  return x / 2.0; /* sigma = 2/2.35 A everywhere */
}

static void test_gaussian_R_callback(void **state) {
  (void)state;
  enum { n = 60 };
  double lam[n], sig[n];
  for (int i = 0; i < n; i++) {
    lam[i] = 4000 + 0.3 * i;
    sig[i] = lam[i] / (lam[i] / 2.0) / 2.35;
  }
  rvs_banded A, B;
  assert_int_equal(rvs_banded_gaussian_R(lam, n, resol_half_lambda, NULL, &A), RVS_OK);
  assert_int_equal(rvs_banded_gaussian(lam, n, sig, &B), RVS_OK);
  assert_int_equal(A.nd, B.nd);
  /* 5 sigma = 4.255 A = 14.2 px -> 15 with the right-edge rounding */
  assert_int_equal(A.half, 15);
  for (size_t k = 0; k < (size_t)n * A.nd; k++) assert_close_abs(A.w[k], B.w[k], 1e-16);
  rvs_banded_free(&A);
  rvs_banded_free(&B);
  double bad[3] = {1, 3, 2}, s3[3] = {1, 1, 1};
  assert_int_equal(rvs_banded_gaussian(bad, 3, s3, &A), RVS_ERR_ARG);
  assert_non_null(strstr(rvs_last_error(), "increasing"));
}

/* independent dense construction in the scipy DIA convention:
 * data[k][j] sits at (j - o_k, j), o_k = 5 - k; out-of-range dropped */
static void dia_to_dense(const float *data, int n, double *dense) {
  memset(dense, 0, sizeof(double) * n * n);
  for (int k = 0; k < 11; k++) {
    int off = 5 - k;
    for (int j = 0; j < n; j++) {
      int row = j - off;
      if (row >= 0 && row < n) dense[row * n + j] = data[k * n + j];
    }
  }
}

static void test_desi_conversion_positions(void **state) {
  (void)state;
  enum { n = 16 };
  float data[11 * n];
  for (int k = 0; k < 11; k++)
    for (int j = 0; j < n; j++) data[k * n + j] = (float)(1000 * (k + 1) + j);
  double dense[n * n];
  dia_to_dense(data, n, dense);
  rvs_banded R;
  assert_int_equal(rvs_desi_resolution_to_banded(data, n, &R), RVS_OK);
  assert_int_equal(R.nd, 11);
  for (int i = 0; i < n; i++)
    for (int c = 0; c < n; c++) assert_true(band_at(&R, i, c) == dense[i * n + c]);
  /* spot checks of the convention: main diagonal is k = 5, R[i, i+1] (offset
   * +1) is k = 4 at column i+1, R[i+1, i] is k = 6 at column i */
  assert_true(band_at(&R, 3, 3) == 6003);
  assert_true(band_at(&R, 3, 4) == 5004);
  assert_true(band_at(&R, 4, 3) == 7003);
  /* out-of-range cells are zero whatever the file holds there */
  for (int m = 0; m < 5; m++) assert_true(R.w[m] == 0.0);
  rvs_banded_free(&R);
}

/* deterministic DESI-like input, identical in C and in the Python that made
 * the reference below (correctly rounded operations only) */
static void make_desi_input(float *data, int n) {
  for (int k = 0; k < 11; k++)
    for (int j = 0; j < n; j++)
      data[k * n + j] = (float)((1.0 / (1 + (k - 5) * (k - 5))) *
                                (1.0 + ((k * 7 + j * 13) % 17) / 170.0));
}

/* upstream construct_resolution_sparse_matrix(data, 0.8, 0.5) with the five
 * cells that upstream's left-edge bug reads (data[6+i][n-1]) set to 0, so the
 * bug has no effect; rows of the band w[i][m] = R[i, i+m-5], n = 20 */
static const double up_desi[20][11] = {
    {0, 0, 0, 0, 0, 2.0186262828098425, 0.37825866570381889, 0.27408073061801458, 0.097242295997607739, 0.074539810486166133, 0.059668144642376041},
    {0, 0, 0, 0, 0.48814491704209312, 1.6190529327967353, 0.35619370815025936, 0.22217429157603116, 0.10620295731784574, 0.057508564435914136, 0.053138558938948137},
    {0, 0, 0, 0.27366947389496354, 0.3311790249113839, 1.499319241981105, 0.41390766074509588, 0.17872827243340381, 0.10525134105683343, 0.050853926391136638, 0.049506988843904247},
    {0, 0, 0.11573231405899409, 0.20770763131747011, 0.33844927096961286, 1.4560885824618632, 0.40501679065412277, 0.17422457904762495, 0.099462491126043884, 0.060590631886861084, 0.045143638735233714},
    {0, 0.081267606642782181, 0.082903901200312505, 0.18075113550425417, 0.41302364387728147, 1.3663434230574374, 0.38400699046822234, 0.20131429077353002, 0.084993066394371569, 0.05891749537961375, 0.048894376960021295},
    {0.04511121421779099, 0.054847199748441718, 0.10069664604102863, 0.18431725467747084, 0.34941278795900316, 1.5163946650835962, 0.32008095167078898, 0.20639960170316152, 0.097046138030319418, 0.053074227852755868, 0.048815759027634936},
    {0.049831294840668471, 0.054716309622986035, 0.087938259778572919, 0.21739407483274309, 0.33001150391423983, 1.4872767102449158, 0.31100615274511151, 0.20232831732361931, 0.094901366412400878, 0.051820295653329657, 0.047759480504090415},
    {0.048822737914625991, 0.053276360010980676, 0.086466547556637768, 0.21090094381466037, 0.32964425286194965, 1.4269978707285376, 0.39641117110319324, 0.17083294278470953, 0.097391980051984198, 0.059342077497278656, 0.044235797157072092},
    {0.045294283886755063, 0.060816737832130832, 0.088889876081720234, 0.17964768082213334, 0.41417848092036197, 1.3698496186973743, 0.38484664463214824, 0.20173002784782393, 0.085239368071011054, 0.059043765936444961, 0.048998828696599009},
    {0.045373427303162246, 0.055167919705173471, 0.10120664758582176, 0.18542934647333753, 0.35134234668659742, 1.5248936866276273, 0.32056145026280836, 0.21309537293653483, 0.078802758494196212, 0.058976033424794211, 0.04763823732830564},
    {0.0508955118528467, 0.051912172665043513, 0.099692523976293371, 0.1809281084600147, 0.34330264046478648, 1.4921963852691218, 0.31393126945981381, 0.20316363429925854, 0.095488285707468715, 0.05211975741877671, 0.048027147244309377},
    {0.049085615827631233, 0.053594488487625332, 0.086985925803034797, 0.21197929326512985, 0.33169526691090451, 1.4350600466557293, 0.39846218407251349, 0.1719112963953453, 0.097911344326020597, 0.059660210132156999, 0.044498673997391117},
    {0.045557143590412602, 0.061134937289198651, 0.089408997459892059, 0.18072695652377474, 0.41622607981189141, 1.3779237365785273, 0.38685481010747297, 0.20296245620811978, 0.085204751776663229, 0.061342530757168084, 0.042688776603560789},
    {0.045946052433234311, 0.054278665443347369, 0.10609451069381151, 0.1707952220718256, 0.40959589783876488, 1.3452264355455008, 0.37881510379516392, 0.19846121821995805, 0.083690628160142347, 0.058086783718970643, 0.048210861152749467},
    {0.044585461061373004, 0.054210932945604404, 0.099657901066674673, 0.18216056734160987, 0.34531070281816756, 1.5002705058170998, 0.31597896118685281, 0.20424291184386625, 0.0960073912935894, 0.052437967918285901, 0.048290003972111577},
    {0.04890823778338782, 0.053432567269326485, 0.086722352954834742, 0.21116708083140578, 0.3307361562316472, 1.4303746247869276, 0.39650431511345363, 0.17301921646714877, 0.0919008671864881, 0.079650511633206536, 0},
    {0.046383361634190372, 0.062178045868207014, 0.091104838415328543, 0.18372128929193182, 0.42443138824915666, 1.3990206166134052, 0.40734622325597747, 0.16014031234511372, 0.12808985458451616, 0, 0},
    {0.047199103071295684, 0.06347983765858696, 0.092546538439806189, 0.18746174504446253, 0.43128063892828328, 1.4314191133793468, 0.38704414799405273, 0.26198480574199251, 0, 0, 0},
    {0.049405095361740481, 0.059821251517996686, 0.11093172157310692, 0.19919550658275664, 0.39113719052196183, 1.628108617121778, 0.46381654757848589, 0, 0, 0, 0},
    {0.059209632198489778, 0.067293906856511085, 0.098703086520957287, 0.28393131719560294, 0.31026356183945597, 2.0830144256468097, 0, 0, 0, 0, 0},
};

static void test_desi_prepare_matches_upstream(void **state) {
  (void)state;
  enum { n = 20 };
  float data[11 * n];
  make_desi_input(data, n);
  for (int i = 0; i < 5; i++) data[(6 + i) * n + n - 1] = 0.0f;
  rvs_banded R;
  assert_int_equal(rvs_desi_resolution_prepare(data, n, 0.8, 0.5, &R), RVS_OK);
  for (int i = 0; i < n; i++)
    for (int m = 0; m < 11; m++)
      assert_close_rel(R.w[i * 11 + m], up_desi[i][m], 1e-12, 1e-14);
  rvs_banded_free(&R);
}

static void test_desi_prepare_edge_bug_fixed(void **state) {
  (void)state;
  /* With non-zero values in the cells upstream wrongly wraps into the left
   * edge rows (data[6+i][n-1], all out of the matrix), upstream's edge rows
   * change (by up to 0.17 here); ours ignore every out-of-range cell, so the
   * result is the same as with zeros there.  Interior rows equal upstream's
   * in both cases (its deviation is confined to the renormalised edges). */
  enum { n = 20 };
  float data[11 * n], data0[11 * n];
  make_desi_input(data, n);
  memcpy(data0, data, sizeof data);
  for (int i = 0; i < 5; i++) {
    data0[(6 + i) * n + n - 1] = 0.0f;
    assert_true(data[(6 + i) * n + n - 1] != 0.0f);
  }
  rvs_banded R, R0;
  assert_int_equal(rvs_desi_resolution_prepare(data, n, 0.8, 0.5, &R), RVS_OK);
  assert_int_equal(rvs_desi_resolution_prepare(data0, n, 0.8, 0.5, &R0), RVS_OK);
  for (int k = 0; k < n * 11; k++) assert_true(R.w[k] == R0.w[k]);
  for (int i = 5; i < n - 5; i++)
    for (int m = 0; m < 11; m++) assert_close_rel(R.w[i * 11 + m], up_desi[i][m], 1e-12, 1e-14);
  /* every out-of-range cell is zero */
  for (int i = 0; i < 5; i++) {
    for (int m = 0; m < 5 - i; m++) assert_true(R.w[i * 11 + m] == 0.0);
    for (int m = 6 + i; m < 11; m++) assert_true(R.w[(n - 1 - i) * 11 + m] == 0.0);
  }
  rvs_banded_free(&R);
  rvs_banded_free(&R0);
}

/* DESI data for a row-normalised Gaussian of sigma_r pixels (11 taps) */
static void gaussian_desi(float *data, int n, double sigma_r) {
  double g[11], s = 0;
  for (int m = 0; m < 11; m++) s += g[m] = exp(-0.5 * (m - 5) * (m - 5) / (sigma_r * sigma_r));
  for (int k = 0; k < 11; k++)
    for (int j = 0; j < n; j++) {
      int row = j - (5 - k); /* matrix row of data[k][j] */
      int m = j - row + 5;   /* tap index in that row */
      data[k * n + j] = (row >= 0 && row < n) ? (float)(g[m] / s) : 0.0f;
    }
}

/* long double solve of the 11 x 11 G x = r */
static void ld_deconvolve(double s, const double *r, long double *x) {
  long double a[11][12];
  for (int i = 0; i < 11; i++) {
    for (int j = 0; j < 11; j++)
      a[i][j] = expl(-0.5L * (j - i) * (j - i) / ((long double)s * s)) / (sqrtl(2 * M_PI) * s);
    a[i][11] = r[i];
  }
  for (int k = 0; k < 11; k++) {
    int p = k;
    for (int i = k + 1; i < 11; i++)
      if (fabsl(a[i][k]) > fabsl(a[p][k])) p = i;
    for (int j = 0; j < 12; j++) {
      long double t = a[k][j];
      a[k][j] = a[p][j];
      a[p][j] = t;
    }
    for (int i = 0; i < 11; i++) {
      if (i == k) continue;
      long double f = a[i][k] / a[k][k];
      for (int j = k; j < 12; j++) a[i][j] -= f * a[k][j];
    }
  }
  for (int i = 0; i < 11; i++) x[i] = a[i][11] / a[i][i];
}

static void test_desi_prepare_edges_renormalised(void **state) {
  (void)state;
  enum { n = 64 };
  float data[11 * n];
  gaussian_desi(data, n, 1.3);
  const double s = 0.5 / 0.8;
  rvs_banded R;
  assert_int_equal(rvs_desi_resolution_prepare(data, n, 0.8, 0.5, &R), RVS_OK);
  /* interior rows: G^-1 r, checked against a long double solve */
  double r[11];
  long double x[11];
  for (int m = 0; m < 11; m++) r[m] = data[(10 - m) * n + 30 + m - 5];
  ld_deconvolve(s, r, x);
  long double mult = 0;
  for (int m = 0; m < 11; m++) mult += x[m];
  for (int i = 5; i < n - 5; i++)
    for (int m = 0; m < 11; m++) assert_close_rel(R.w[i * 11 + m], (double)x[m], 1e-10, 1e-12);
  /* all interior rows are equal, so the median row sum is theirs; each edge
   * row's in-range taps are rescaled to sum to it */
  for (int i = 0; i < 5; i++) {
    double sl = 0, sr = 0;
    for (int m = 0; m < 11; m++) {
      sl += R.w[i * 11 + m];
      sr += R.w[(n - 1 - i) * 11 + m];
    }
    assert_close_rel(sl, (double)mult, 1e-12, 1e-300);
    assert_close_rel(sr, (double)mult, 1e-12, 1e-300);
    /* and the edge row is the deconvolved truncated row times a constant */
    double rr[11];
    long double xe[11];
    for (int m = 0; m < 11; m++) {
      int c = i + m - 5;
      rr[m] = (c >= 0) ? data[(10 - m) * n + c] : 0.0;
    }
    ld_deconvolve(s, rr, xe);
    long double in = 0;
    for (int m = 5 - i; m < 11; m++) in += xe[m];
    for (int m = 5 - i; m < 11; m++)
      assert_close_rel(R.w[i * 11 + m], (double)(xe[m] / in * mult), 1e-10, 1e-12);
  }
  rvs_banded_free(&R);
}

/* bare template: a continuum with absorption lines, defined at any pixel */
static double templ_at(long x) {
  double t = 1.0 + 0.001 * x;
  const double centres[4] = {40.3, 61.0, 97.7, 131.2}, widths[4] = {1.5, 2.5, 1.2, 3.0};
  for (int l = 0; l < 4; l++) {
    double u = (x - centres[l]) / widths[l];
    t -= 0.5 * exp(-0.5 * u * u);
  }
  return t;
}

static void test_desi_deconvolution_reproduces_R(void **state) {
  (void)state;
  /* The templates carry the LSF G (sigma0 = 0.5 A, 0.8 A pixels); R' is
   * built so that R' (G t) ~ R t.  Check it on lines of 1.2-3 px width. */
  enum { n = 180 };
  float data[11 * n];
  const double sigma_r = 1.4, s = 0.5 / 0.8;
  gaussian_desi(data, n, sigma_r);
  rvs_banded Rp, R;
  assert_int_equal(rvs_desi_resolution_prepare(data, n, 0.8, 0.5, &Rp), RVS_OK);
  assert_int_equal(rvs_desi_resolution_to_banded(data, n, &R), RVS_OK);
  double tconv[n], tbare[n], y1[n], y0[n];
  for (int i = 0; i < n; i++) {
    double a = 0;
    for (int k = -5; k <= 5; k++) a += exp(-0.5 * k * k / (s * s)) / (sqrt(2 * M_PI) * s) * templ_at(i + k);
    tconv[i] = a;
    tbare[i] = templ_at(i);
  }
  rvs_banded_apply(&Rp, tconv, y1);
  rvs_banded_apply(&R, tbare, y0);
  double maxerr = 0, depth = 0;
  for (int i = 10; i < n - 10; i++) {
    maxerr = fmax(maxerr, fabs(y1[i] - y0[i]));
    depth = fmax(depth, fabs(y0[i] - (1.0 + 0.001 * i)));
  }
  assert_true(depth > 0.15); /* the lines are really there after R */
  /* without deconvolution the error would be ~1e-2 (the extra blur) */
  double blur = 0;
  rvs_banded_apply(&R, tconv, y1);
  for (int i = 10; i < n - 10; i++) blur = fmax(blur, fabs(y1[i] - y0[i]));
  assert_true(blur > 5e-3);
  print_message("deconvolution max |R'Gt - Rt| = %.3g (no deconvolution: %.3g)\n", maxerr, blur);
  assert_true(maxerr < 2e-4);
  rvs_banded_free(&Rp);
  rvs_banded_free(&R);
}

static void test_desi_bad_input(void **state) {
  (void)state;
  enum { n = 20 };
  float data[11 * n];
  make_desi_input(data, n);
  rvs_banded R;
  assert_int_equal(rvs_desi_resolution_prepare(data, 10, 0.8, 0.5, &R), RVS_ERR_ARG);
  assert_int_equal(rvs_desi_resolution_prepare(data, n, 0.8, -1.0, &R), RVS_ERR_ARG);
  data[5 * n + 7] = NAN;
  assert_int_equal(rvs_desi_resolution_prepare(data, n, 0.8, 0.5, &R), RVS_ERR_NUMERIC);
  assert_null(R.w);
  assert_int_equal(rvs_desi_resolution_to_banded(data, n, &R), RVS_ERR_NUMERIC);
  assert_null(R.w);
  /* a NaN in an out-of-range cell is ignored: it is not part of the matrix */
  make_desi_input(data, n);
  data[10 * n + n - 1] = NAN; /* k = 10 (offset -5) at the last column */
  assert_int_equal(rvs_desi_resolution_to_banded(data, n, &R), RVS_OK);
  rvs_banded_free(&R);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_banded_apply_vs_dense),
    cmocka_unit_test(test_banded_apply_diag_bitwise),
    cmocka_unit_test(test_gaussian_rows_moments),
    cmocka_unit_test(test_gaussian_matches_upstream),
    cmocka_unit_test(test_gaussian_R_callback),
    cmocka_unit_test(test_desi_conversion_positions),
    cmocka_unit_test(test_desi_prepare_matches_upstream),
    cmocka_unit_test(test_desi_prepare_edge_bug_fixed),
    cmocka_unit_test(test_desi_prepare_edges_renormalised),
    cmocka_unit_test(test_desi_deconvolution_reproduces_R),
    cmocka_unit_test(test_desi_bad_input),
};

RVS_TEST_MAIN(tests)
