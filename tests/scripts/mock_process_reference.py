"""Reference numbers for tests/test_fit_process.c: upstream rvspecfit's
vel_fit.process driven by an analytic -2 ln L (the same formula as the C
test's mock backend), with spec_fit.get_chisq monkeypatched.  Run once:
    python3 tests/scripts/mock_process_reference.py
"""
import numpy as np
from rvspecfit import vel_fit, spec_fit, spec_inter

NAMES = ['teff', 'logg', 'feh', 'alpha']


FLAT_ALPHA = [False]


def m2lnl(vel, params, vsini):
    teff, logg, feh, alpha = params
    if FLAT_ALPHA[0]:
        alpha = 0.2  # no dependence on alpha: a singular Hessian
    t = (vel - 37.3) / 2.1
    r = 5000.0 + t * t * (1 + 0.05 * (logg - 4.0) ** 2) + 0.3 * t * (teff - 5600.0) / 150.0
    r += ((teff - 5600.0) / 150.0) ** 2 + ((logg - 4.2) / 0.3) ** 2
    r += ((feh + 0.7) / 0.2) ** 2 + ((alpha - 0.2) / 0.15) ** 2
    r += 0.5 * ((teff - 5600.0) / 150.0) * ((feh + 0.7) / 0.2)
    r += 0.02 * ((logg - 4.2) / 0.3) ** 4
    if vsini is not None:
        r += ((vsini - 20.0) / 8.0) ** 2
    return r


NCALLS = [0]


def fake_get_chisq(specdata, vel, params, rot_params, resol_params, options=None,
                   config=None, cache=None, full_output=False, outside_penalty=True):
    NCALLS[0] += 1
    vsini = None if rot_params is None else rot_params[0]
    c = m2lnl(vel, list(params), vsini)
    if full_output:
        return dict(chisq=c, logl=-0.5 * c, models=[], raw_models=[],
                    chisq_array=[1.0], npix_array=[100])
    return c


spec_fit.get_chisq = fake_get_chisq
spec_fit.param_dict_to_tuple = lambda d, name, config=None: tuple(d[k] for k in NAMES)
spec_inter.getSpecParams = lambda name, config=None: NAMES


class Spec:
    name = 'mock'


config = dict(min_vel=-1000, max_vel=1000, vel_step0=5, max_vsini=500, min_vsini=0.01,
              min_vel_step=0.2, second_minimizer=True)
cases = {
    'vsini_free': (dict(teff=5000., logg=3.5, feh=-0.2, alpha=0.0, vsini=10.), [], None, True),
    'alpha_fixed_prior': (dict(teff=6000., logg=4.5, feh=-1.0, alpha=0.4), ['alpha'],
                          dict(feh=(-0.5, 0.3)), True),
    'nm_only': (dict(teff=5400., logg=4.0, feh=-0.5, alpha=0.1), [], None, False),
}
cases['flat_alpha'] = (dict(teff=5400., logg=4.0, feh=-0.5, alpha=0.1), [], None, True)
for name, (p0, fix, priors, second) in cases.items():
    FLAT_ALPHA[0] = name == 'flat_alpha'
    cfg = dict(config, second_minimizer=second)
    NCALLS[0] = 0
    r = vel_fit.process([Spec()], p0, fixParam=fix, config=cfg, priors=priors)
    print(name)
    print('  vel', repr(r['vel']), 'err', repr(r['vel_err']), 'skew', repr(r['vel_skewness']),
          'kurt', repr(r['vel_kurtosis']))
    print('  vsini', repr(r.get('vsini')))
    print('  param', [repr(r['param'][k]) for k in NAMES])
    print('  param_err', [repr(r['param_err'][k]) for k in NAMES])
    print('  chisq', repr(r['chisq']), 'bad_hessian', r['bad_hessian'], 'success', r['minimize_success'],
          'calls', NCALLS[0])
