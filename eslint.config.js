// Lint: typescript-eslint with type information over the TypeScript sources (flat config).
// `npm run lint` runs this and the unused-exports check (knip); formatting is prettier's alone.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', 'coverage/', 'ui/dist/', 'test-artifacts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: {
      // The console (ui/) has a tsconfig of its own, found by the project service; its Vite config
      // belongs to no project.
      parserOptions: { projectService: { allowDefaultProject: ['ui/vite.config.ts'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Promises: an unhandled rejection or a promise where a callback's result is ignored
      // (event handlers, timers) loses errors silently.
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's describe/it/test return promises the runner itself awaits.
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // Tests walk untyped protobuf and JSON answers; `any` stays out of src/ and bench/, where
    // module boundaries are.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['ui/src/**/*.ts', 'ui/src/**/*.tsx'],
    languageOptions: { globals: globals.browser },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: globals.node },
  },
);
