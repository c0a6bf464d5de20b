/**
 * The error `fn` throws, when it is an instance of `type`; any other error is rethrown, and no error at all fails
 * the test ("expected a <type>").
 */
export function errorOf<T extends Error>(fn: () => unknown, type: abstract new (...args: never[]) => T): T {
  try {
    fn();
  } catch (e) {
    if (e instanceof type) return e;
    throw e;
  }
  throw new Error(`expected a ${type.name}`);
}
