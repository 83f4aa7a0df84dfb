/**
 * Runs before each vendored file (upstream/ is unchanged): the jest-style globals it uses (`test`, `test.each`,
 * `describe`) register through here, so the tests listed in expected.ts become skips or expected failures.
 */
import { basename } from 'node:path'
import { describe as vitestDescribe, expect, test as vitestTest } from 'vitest'
import { expectedGroupOf, expectedMode } from './expected.js'

type TestFn = (...args: any[]) => unknown
const mode = expectedMode()
const describeNames: string[] = []

function currentFile(): string {
  const path = expect.getState().testPath
  if (!path) throw new Error('sdk-suite setup: the current test file is unknown')
  return basename(path)
}

/** jest's and vitest's `%s`/`%d`/`%i`/`%p` placeholders, filled in order. */
function formatName(template: string, args: unknown[]): string {
  let i = 0
  return template.replace(/%[sdip]/g, () => String(args[i++]))
}

function register(name: string, fn: TestFn, timeout?: number): void {
  const group = mode === 'off' ? undefined : expectedGroupOf(currentFile(), [...describeNames, name].join(' > '))
  if (!group) return void vitestTest(name, fn, timeout)
  if (group.run === 'skip' && mode !== 'strict') return void vitestTest.skip(name, fn)
  vitestTest.fails(name, fn, timeout)
}

const test = Object.assign(register, {
  each: (table: unknown[]) => (template: string, fn: TestFn, timeout?: number) => {
    for (const row of table) {
      const args = Array.isArray(row) ? row : [row]
      register(formatName(template, args), () => fn(...args), timeout)
    }
  },
  skip: vitestTest.skip,
  only: vitestTest.only,
  todo: vitestTest.todo,
})

const describe = Object.assign(
  (name: string, factory: () => void) =>
    vitestDescribe(name, () => {
      describeNames.push(name)
      try {
        factory()
      } finally {
        describeNames.pop()
      }
    }),
  { skip: vitestDescribe.skip, only: vitestDescribe.only },
)

Object.assign(globalThis, { test, it: test, describe })
