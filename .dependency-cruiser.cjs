/**
 * dependency-cruiser config, run by `npm run lint`: the source tree must have no import cycles.
 * Type-only imports count too (`tsPreCompilationDeps: true`), so a cycle cannot hide behind `import type`.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Modules must not depend on each other in a cycle: move the shared piece into the module it belongs to.',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
