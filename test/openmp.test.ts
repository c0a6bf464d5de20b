import { describe, expect, it } from 'vitest';
import { OPENMP_WAIT_VARIABLES, openmpWaitEnv } from '../src/loop/openmp.js';

/**
 * How experiments' OpenMP threads wait (src/loop/openmp.ts): the OpenMP runtime's default unless the environment
 * ratchet runs in sets OMP_WAIT_POLICY or GOMP_SPINCOUNT. The pass-through into a real sandbox is checked end to
 * end in test/directions.test.ts.
 */
describe('openmpWaitEnv', () => {
  it('sets nothing by default: the OpenMP runtime spins briefly before sleeping (PASSIVE made LightGBM 14x slower idle)', () => {
    expect(openmpWaitEnv({})).toEqual({});
    expect(openmpWaitEnv({ OMP_NUM_THREADS: '8', PATH: '/usr/bin', SECRET_TOKEN: 'x' })).toEqual({});
  });

  it("passes the person's wait settings as they are, and only those", () => {
    expect(
      openmpWaitEnv({ OMP_WAIT_POLICY: 'PASSIVE', GOMP_SPINCOUNT: '5000', AWS_SECRET_ACCESS_KEY: 'k' }),
    ).toEqual({
      OMP_WAIT_POLICY: 'PASSIVE',
      GOMP_SPINCOUNT: '5000',
    });
    expect(OPENMP_WAIT_VARIABLES).toEqual(['OMP_WAIT_POLICY', 'GOMP_SPINCOUNT']);
  });

  it('ignores an empty value and one with a NUL byte (the sandbox would refuse it)', () => {
    expect(openmpWaitEnv({ OMP_WAIT_POLICY: '', GOMP_SPINCOUNT: '10\u00000' })).toEqual({});
  });
});
