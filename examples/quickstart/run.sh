#!/usr/bin/env bash
# The quick start's main job on the embedded default (SQLite catalog, local object store):
# scan a sample research tree, plan, apply, verify, and print what the catalog knows.
set -euo pipefail
cd "$(dirname "$0")"
strata() {
  printf '\n$ strata %s\n' "$*"
  node ../../bin/strata.js "$@"
}
rm -rf work data
node --import tsx make-sample.ts data

strata scan scratch
strata sync scratch archive --dry-run
strata sync scratch archive --tag campaign=quickstart
strata verify archive
strata ls
strata ls scratch:project-climate/run-000
strata show scratch:project-climate/run-000/checkpoint.bin
printf '\nNothing changed since, so a second sync copies nothing and lists nothing remote:\n'
strata sync scratch archive
printf '\nThe lifecycle policy: files idle for 30 days and more move to STANDARD_IA:\n'
strata plan
strata apply
printf '\nApplied, so planning again finds nothing to do:\n'
strata plan
printf '\nAsk the catalog: the largest files with one verified copy, what each directory holds, a history:\n'
strata find scratch -type f -copies 1 --sort -size --limit 3 -printf '%s\t%p\n'
strata du scratch -d 1
strata log scratch:project-climate/run-000/checkpoint.bin
printf '\nWhat the stored data costs a month, by location and class:\n'
strata cost
printf '\nThe architecture, implementation plan and cost analysis, with charts, from what the catalog knows:\n'
strata report --out work/report
