/**
 * A copy of a running PGlite's data directory. PGlite runs PostgreSQL in this process and writes every commit's
 * WAL to the directory's files before the commit returns, so between two statements the files on disk are what a
 * crash at that instant would leave: a copy taken then opens with WAL replay and holds every committed
 * transaction. The copy holds PGlite's statement lock (as its own dumpDataDir does) for the time of a file copy
 * only; the archive is made from the copy afterwards, with no lock and no image in memory.
 */
import { constants } from 'node:fs'
import { cp } from 'node:fs/promises'
import type { PGlite } from '@electric-sql/pglite'

/** Copies `dir` (PGlite's data directory) to `target` (must not exist) while no statement runs. */
export function copyBetweenStatements(pg: PGlite, dir: string, target: string): Promise<void> {
  // A copy-on-write clone where the filesystem has one (btrfs, xfs), else a plain copy.
  return pg._runExclusiveQuery(() => cp(dir, target, { recursive: true, errorOnExist: true, force: false, mode: constants.COPYFILE_FICLONE }))
}
