#!/usr/bin/env bash
# fuzz.sh [--grow] [SECONDS]: fuzz the C API's handling of bad input.
#
# Builds the libFuzzer harnesses of Tests/fuzz/ (ASan + UBSan + LeakSanitizer,
# linked against .build/release/libmysqlpool.so) into build/fuzz/ and runs
# each for SECONDS (default 20):
#   fuzz_config   configuration keys/values -> pool_create -> pool calls
#   fuzz_handles  NULL, made-up, stale and wrong-kind handles to every call
# Tests/fuzz/corpus/NAME/ is each harness's seed corpus. It also keeps the
# minimized reproducers of the bugs found so far, named crash-<bug-id> or
# crash-<bug-id>.<variant>; they are replayed one by one first, and every one
# that still fails is reported. The fuzzing that follows starts from the other
# seeds, with the checks of those still-open bugs relaxed (the harnesses read
# MYSQLPOOL_FUZZ_IGNORE=<bug-id>,...), so it looks for new bugs. New inputs go
# to build/fuzz/scratch/NAME/, never into the repository; with --grow the
# ones that add coverage are merged into the corpus afterwards.
#
# Exit status: non-zero when a reproducer still fails, or on any new crash,
# failed check, sanitizer or leak report, timeout (one input running longer
# than FUZZ_TIMEOUT seconds, default 10) or build failure. A new finding is
# saved as build/fuzz/artifacts/NAME/crash-* (or leak-*, timeout-*); rerun it
# with: build/fuzz/NAME FILE
#
# No server is needed and no network is used: every connection attempt goes
# to a Unix socket path that does not exist.
#
# Needs a clang with libFuzzer: the Swift toolchain's (/opt/swift/usr/bin/clang,
# found next to `swift` in PATH too) has it. Override with FUZZ_CC=/path/clang.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

grow=
seconds=20
for arg in "$@"; do
    case $arg in
    --grow) grow=1 ;;
    '' | *[!0-9]*)
        echo "usage: $0 [--grow] [SECONDS]" >&2
        exit 2
        ;;
    *) seconds=$arg ;;
    esac
done
if [[ $seconds -lt 1 ]]; then
    echo "fuzz: SECONDS must be at least 1" >&2
    exit 2
fi

harnesses=(fuzz_config fuzz_handles fuzz_params)
lib_dir=$root/.build/release
lib=$lib_dir/libmysqlpool.so
out=$root/build/fuzz
per_input_timeout=${FUZZ_TIMEOUT:-10}

if [[ ! -f $lib ]]; then
    echo "fuzz: $lib is missing; build it first: swift build -c release" >&2
    exit 1
fi

# --- A clang that can link libFuzzer ----------------------------------------

candidates=()
[[ -n ${FUZZ_CC:-} ]] && candidates+=("$FUZZ_CC")
candidates+=(/opt/swift/usr/bin/clang)
if swift_bin=$(command -v swift 2>/dev/null); then
    candidates+=("$(dirname "$(readlink -f "$swift_bin")")/clang")
fi
candidates+=(clang)

mkdir -p "$out"
probe=$out/.probe
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
    >"$probe.c"
cc=
ld_flags=()
for candidate in "${candidates[@]}"; do
    command -v "$candidate" >/dev/null 2>&1 || continue
    # Prefer lld (the Swift toolchain ships it): gold warns about every ASan symbol.
    if "$candidate" -fsanitize=fuzzer,address,undefined -fuse-ld=lld "$probe.c" -o "$probe" 2>/dev/null; then
        cc=$candidate
        ld_flags=(-fuse-ld=lld)
        break
    elif "$candidate" -fsanitize=fuzzer,address,undefined "$probe.c" -o "$probe" 2>/dev/null; then
        cc=$candidate
        break
    fi
done
rm -f "$probe" "$probe.c"
if [[ -z $cc ]]; then
    echo "fuzz: no clang with libFuzzer found (tried: ${candidates[*]})." >&2
    echo "fuzz: the Swift toolchain's clang (/opt/swift/usr/bin/clang) has it; or set FUZZ_CC." >&2
    exit 1
fi
echo "== fuzz: compiler $cc ($("$cc" --version | head -n 1))"

# --- The harnesses must know every key and every function taking a handle ---

stale=()
# Keys of PoolConfiguration.set: lines like `case "database", "db": ...`.
keys=$(grep -E '^[[:space:]]*case "[a-z_]+"' Sources/MySQLPoolCore/PoolConfiguration.swift |
    sed -E 's/:.*//' | grep -oE '"[a-z_]+"' | tr -d '"' | sort -u)
for key in $keys; do
    grep -q "{\"$key\", K_" Tests/fuzz/fuzz_config.c ||
        stale+=("configuration key '$key' is not in keys[] of Tests/fuzz/fuzz_config.c")
    grep -q "\"$key=\"" Tests/fuzz/config.dict ||
        stale+=("configuration key '$key' is not in Tests/fuzz/config.dict")
done
# Exported functions whose parameters include a handle type.
handle_functions=$(tr '\n' ' ' <include/mysqlpool.h | grep -oE 'POOL_API[^;]*;' |
    grep -E '(pool_t|pool_conn_t|pool_result_t|pool_stmt_t|pool_config_t) \*' |
    sed -E 's/^[^(]*[^A-Za-z0-9_(]([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*\(.*/\1/' | sort -u)
for function in $handle_functions; do
    grep -q "$function(" Tests/fuzz/fuzz_handles.c ||
        stale+=("$function takes a handle but Tests/fuzz/fuzz_handles.c never calls it")
done
if [[ ${#stale[@]} -gt 0 ]]; then
    echo "fuzz: the harnesses are behind the library:" >&2
    printf '  - %s\n' "${stale[@]}" >&2
    exit 1
fi

# --- Build ---------------------------------------------------------------------

echo "== fuzz: building ${harnesses[*]} into build/fuzz/"
for name in "${harnesses[@]}"; do
    "$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror -g -O1 \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
        -Iinclude -ITests/fuzz -o "$out/$name" "Tests/fuzz/$name.c" "${ld_flags[@]}" \
        -L"$lib_dir" -lmysqlpool -Wl,-rpath,"$lib_dir"
done

# --- Run -----------------------------------------------------------------------

symbolizer=$(dirname "$(command -v "$cc")")/llvm-symbolizer
sanitizer_env=(
    ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
)
[[ -x $symbolizer ]] && sanitizer_env+=(ASAN_SYMBOLIZER_PATH="$symbolizer")
if [[ -f Tests/fuzz/lsan.supp ]]; then
    sanitizer_env+=(LSAN_OPTIONS=print_suppressions=0:suppressions=$root/Tests/fuzz/lsan.supp)
fi

failures=()
summary=()
open_bugs=()
new_findings=
for name in "${harnesses[@]}"; do
    corpus=Tests/fuzz/corpus/${name#fuzz_}
    seeds=$out/seeds/$name
    scratch=$out/scratch/$name
    artifacts=$out/artifacts/$name
    log=$out/$name.log
    rm -rf "$scratch" "$seeds"
    mkdir -p "$scratch" "$seeds" "$artifacts" "$corpus"

    # 1. The reproducers of bugs found so far (crash-<bug-id>[.<variant>]), one
    #    by one, so every bug still open is listed, not only the first.
    ignore=()
    for reproducer in "$corpus"/crash-*; do
        [[ -f $reproducer ]] || continue
        file=${reproducer##*/}
        bug=${file#crash-}
        bug=${bug%%.*}
        if env "${sanitizer_env[@]}" "$out/$name" -timeout="$per_input_timeout" "$reproducer" \
            >"$out/$name.$file.log" 2>&1; then
            echo "== fuzz: $name: $file passes now (bug '$bug' fixed?); it stays as a seed"
            rm -f "$out/$name.$file.log"
        else
            reason=$(grep -aE -m 1 'FUZZ CHECK FAILED|ERROR: [A-Za-z]+Sanitizer|runtime error:|ERROR: libFuzzer' \
                "$out/$name.$file.log" || true)
            open_bugs+=("$name $file: ${reason:-see build/fuzz/$name.$file.log}")
            [[ " ${ignore[*]} " == *" $bug "* ]] || ignore+=("$bug")
        fi
    done

    # 2. Fuzzing, from every seed but the reproducers that still fail, with
    #    their bugs' checks relaxed (MYSQLPOOL_FUZZ_IGNORE): new bugs only.
    for seed in "$corpus"/*; do
        file=${seed##*/}
        if [[ $file == crash-* ]]; then
            bug=${file#crash-}
            bug=${bug%%.*}
            [[ " ${ignore[*]} " == *" $bug "* ]] && continue
        fi
        cp "$seed" "$seeds/"
    done
    options=(-max_total_time="$seconds" -timeout="$per_input_timeout" -print_final_stats=1
        -artifact_prefix="$artifacts/")
    dict=Tests/fuzz/${name#fuzz_}.dict
    [[ -f $dict ]] && options+=(-dict="$dict")
    ignore_list=$(
        IFS=,
        echo "${ignore[*]}"
    )

    echo "== fuzz: $name for ${seconds}s (seeds $corpus${ignore_list:+, open bugs not re-reported: $ignore_list})"
    rc=0
    start=$(date +%s)
    # The outer timeout only catches a fuzzer that libFuzzer's own -timeout
    # cannot stop (a deadlock inside the runtime); it is generous on purpose.
    timeout --kill-after=10 $((seconds * 2 + 120)) \
        env "${sanitizer_env[@]}" MYSQLPOOL_FUZZ_IGNORE="$ignore_list" \
        "$out/$name" "${options[@]}" "$scratch" "$seeds" >"$log" 2>&1 || rc=$?
    elapsed=$(($(date +%s) - start))
    runs=$(grep -aoE '^stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
    new=$(find "$scratch" -type f | wc -l)
    summary+=("$(printf '%-13s %4ds  %9s runs  %5d new inputs  exit %d' "$name" "$elapsed" "$runs" "$new" "$rc")")

    if [[ $rc -ne 0 ]]; then
        # What went wrong, and the input that did it.
        grep -aE 'FUZZ CHECK FAILED|ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error:|SUMMARY:|Test unit written to|ALARM|timeout after' "$log" |
            head -n 20 >&2 || true
        [[ $rc -eq 124 || $rc -eq 137 ]] && echo "fuzz: $name did not stop; killed after $((seconds * 2 + 120))s" >&2
        echo "fuzz: full log: build/fuzz/$name.log" >&2
        failures+=("$name: new finding (exit $rc)")
        new_findings=1
    fi

    if [[ -n $grow && $rc -eq 0 ]]; then
        before=$(find "$corpus" -type f | wc -l)
        env "${sanitizer_env[@]}" MYSQLPOOL_FUZZ_IGNORE="$ignore_list" "$out/$name" -merge=1 \
            -timeout="$per_input_timeout" -artifact_prefix="$artifacts/" "$corpus" "$scratch" \
            >"$out/$name.merge.log" 2>&1 ||
            failures+=("$name: merge into $corpus (log: build/fuzz/$name.merge.log)")
        echo "== fuzz: $corpus: $before -> $(find "$corpus" -type f | wc -l) inputs"
    fi
done

echo "== fuzz: summary"
printf '  %s\n' "${summary[@]}"
if [[ ${#open_bugs[@]} -gt 0 ]]; then
    echo "fuzz: known bugs still open (their reproducers in Tests/fuzz/corpus/ fail):" >&2
    printf '  - %s\n' "${open_bugs[@]}" >&2
    failures+=("${#open_bugs[@]} reproducer(s) still failing")
fi
if [[ ${#failures[@]} -gt 0 ]]; then
    for failure in "${failures[@]}"; do echo "fuzz: FAILED: $failure" >&2; done
    if [[ -n $new_findings ]]; then
        echo "fuzz: a new finding is in build/fuzz/artifacts/NAME/; rerun it with build/fuzz/NAME FILE," >&2
        echo "fuzz: minimize it (see Tests/fuzz/README.md) and keep it in Tests/fuzz/corpus/NAME/" >&2
        echo "fuzz: as crash-<bug-id>[.<variant>]." >&2
    fi
    exit 1
fi
echo "fuzz: no crash, leak, hang or wrong status code"
