#!/usr/bin/env bash
# Stands in for src/redis-server when scripts/redis_suite.sh runs with --spawn: the suite then
# starts its own servers (with each test's config overrides: requirepass, aclfile, user …), so
# the tests tagged external:skip run too. Drops the directives shardis does not know from the
# config file the suite writes, prints the PID line the suite waits for, and runs shardis with
# $SHARDIS_SHARDS shards.
conf=/dev/null
case "${1:-}" in --*|'') ;; *) conf=$1; shift ;; esac
filtered=$(mktemp "${TMPDIR:-/tmp}/shardis-suite-conf.XXXXXX")
grep -v -E '^(always-show-logo|notify-keyspace-events|latency-monitor-threshold|repl-diskless-sync-delay|rdbcompression|dbfilename|slave-serve-stale-data|no-appendfsync-on-rewrite|activerehashing|enable-protected-configs|enable-module-command|propagation-error-behavior|daemonize|pidfile|logfile)( |$)' \
    "$conf" >"$filtered"
echo "* PID: $$"
exec "${SHARDIS_BIN:?}" "$filtered" --shards "${SHARDIS_SHARDS:-1}" "$@"
