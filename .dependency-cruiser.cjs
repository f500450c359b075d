/**
 * The shape of the house, checked by `npm run lint` (dependency-cruiser). Imports flow one way:
 *
 *   cli, demo            entry points
 *   api                  HTTP surface
 *   jobs, metrics        queue, worker, scheduler
 *   identity             Sluice's workload identity (keys in the control store)
 *   verify               the recipient's check of its bucket (sluice verify): reads the contract
 *   control, runtime     control store: recipients, destinations, secrets
 *   transfer             drives the stages: read -> encode -> write -> commit
 *   models               sluice.yaml models, checked against the source
 *   sources | formats | destinations   the stages: each knows only core
 *   core                 types, errors, ids, log: what every stage shares
 *
 * A composition root (what puts a running Sluice together: jobs/transfer-deps.ts, jobs/service.ts)
 * sits on the floor of the code that calls it, and hands the floors below what they need (a loader,
 * a signer) as functions: transfer/ never reaches up for them.
 */
const STAGES = '(sources|formats|destinations)';
const ABOVE = {
  models: '^src/(transfer|control|identity|jobs|api|cli|demo)/|^src/(runtime|metrics)\\.ts$',
  transfer: '^src/(control|identity|jobs|api|cli|demo)/|^src/(runtime|metrics|config)\\.ts$',
  control: '^src/(identity|jobs|api|cli|demo)/|^src/metrics\\.ts$',
  identity: '^src/(jobs|api|cli|demo)/|^src/metrics\\.ts$',
  // The recipient's tool knows the bucket contract (transfer/keys, transfer/manifest), not Sluice's
  // control store or service.
  verify: '^src/(control|identity|jobs|api|cli|demo)/|^src/(runtime|metrics|config)\\.ts$',
  jobs: '^src/(api|cli|demo)/',
  // metrics.ts sits beside jobs/: it is told how to read the queue, it does not import it.
  metrics: '^src/(jobs|api|cli|demo)/',
  api: '^src/(cli|demo)/',
};

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Two modules that import each other are one module in two files: move what both need down a floor.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'core-is-the-floor',
      severity: 'error',
      comment: 'core/ holds what every stage shares; it imports nothing else of Sluice.',
      from: { path: '^src/core/' },
      to: { path: '^src/', pathNot: '^src/core/' },
    },
    {
      name: 'stages-know-only-core',
      severity: 'error',
      comment: 'A source, a format or a destination knows core/ and itself: transfer/ is what joins them.',
      from: { path: `^src/${STAGES}/` },
      to: { path: '^src/', pathNot: ['^src/core/', '^src/$1/'] },
    },
    ...Object.entries(ABOVE).map(([layer, above]) => ({
      name: `${layer}-does-not-import-upwards`,
      severity: 'error',
      comment: `${layer}/ may import the floors below it only (see the picture at the top of this file).`,
      from: { path: layer === 'metrics' ? '^src/metrics\\.ts$' : `^src/${layer}/` },
      to: { path: above },
    })),
    {
      name: 'no-dev-dependencies-at-run-time',
      severity: 'error',
      comment: 'dist/ runs without devDependencies (tsx, test tools): src/ may only import dependencies.',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    includeOnly: { path: '^src/|^node_modules/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
  },
};
