// Lint is part of `npm test`; the rules that matter most here keep process folders apart (DESIGN §2).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const processFolders = ['daemon', 'tui', 'agent', 'cli', 'gpg-client', 'provision', 'dev'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test/vm/cache/**', '.cache/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly', setImmediate: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
      'no-control-regex': 'off',
    },
  },
  ...processFolders.map((folder) => ({
    files: [`${folder}/**/*.ts`, `${folder}/**/*.cts`],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: processFolders.filter((f) => f !== folder).map((f) => ({
          group: [`**/${f}/*`, `../${f}/*`, `../../${f}/*`],
          message: `process folders never import each other (DESIGN §2); move shared code to core/`,
        })),
      }],
    },
  })),
);
