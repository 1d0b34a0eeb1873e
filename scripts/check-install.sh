#!/usr/bin/env bash
# The installed tree works: run by `meson test` ("installed tree", see meson.build). Installs the
# build into a staging directory with `meson install --destdir` and checks, under it, that
#   - the installed libgstfess.so loads from the plugin dir (GST_PLUGIN_PATH set to it, a
#     registry file of its own) and registers fessdetect, fessface, fessoverlay, fesskafkasink,
#     each from that very file, and fessdetect runs from it with only GST_PLUGIN_PATH set;
#   - fess --help and fess-exporter --help run from the bin dir;
#   - each systemd unit (fess-exporter.service, fess-run.service, fess-run@.service) names the
#     installed binary in ExecStart, which takes its arguments, and passes `systemd-analyze
#     verify` (when systemd-analyze is on PATH; setup.sh installs it); fess-run's units point
#     GST_PLUGIN_PATH at the installed plugin, and `fess run --check` with their arguments
#     accepts the installed example cameras file with that plugin;
#   - every example configuration file is in the data dir, and the alerting rules pass
#     `promtool check rules` and `promtool test rules` there (when promtool is on PATH).
#
#   check-install.sh MESON BUILDDIR DESTDIR PLUGINDIR BINDIR UNITDIR DATADIR
#
#   MESON      the meson command that configured BUILDDIR
#   DESTDIR    staging directory; emptied first (meson.build uses <builddir>/install-check);
#              DESTDIR.unit holds the copies of the units that systemd-analyze verifies
#   PLUGINDIR BINDIR UNITDIR DATADIR
#              the final absolute install paths (the prefix's), as meson.build computes them;
#              DATADIR is <prefix>/<datadir>/fess
#
# Prints one line per check and every failure; exits 1 if any check failed.
set -uo pipefail

[ $# -eq 7 ] || { echo "usage: $0 MESON BUILDDIR DESTDIR PLUGINDIR BINDIR UNITDIR DATADIR" >&2; exit 2; }
meson="$1" builddir="$2" destdir="$3" plugindir="$4" bindir="$5" unitdir="$6" datadir="$7"

failures=0
ok() { echo "ok: $*"; }
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

case "$destdir" in
    /*/*) ;;
    *) echo "check-install.sh: DESTDIR must be an absolute path below /, not '$destdir'" >&2; exit 2 ;;
esac
rm -rf "$destdir" "$destdir.unit"
# --no-rebuild: meson test has already built what the test depends on.
if ! "$meson" install -C "$builddir" --no-rebuild --quiet --destdir "$destdir"; then
    echo "FAIL: meson install --destdir $destdir" >&2
    exit 1
fi
ok "meson install --destdir $destdir"

plugin="$destdir$plugindir/libgstfess.so"
units="fess-exporter.service fess-run.service fess-run@.service"
cameras="$destdir$datadir/examples/cameras.example.toml"

# Files in place.
for f in "$plugin" "$destdir$bindir/fess" "$destdir$bindir/fess-exporter"; do
    if [ -f "$f" ] && [ -x "$f" ]; then ok "installed ${f#"$destdir"}"; else fail "$f is missing or not executable"; fi
done
for f in "$destdir$unitdir/fess-exporter.service" \
    "$destdir$unitdir/fess-run.service" \
    "$destdir$unitdir/fess-run@.service" \
    "$destdir$datadir/prometheus/prometheus.yml" \
    "$destdir$datadir/prometheus/alerts.yml" \
    "$destdir$datadir/prometheus/alerts.test.yml" \
    "$destdir$datadir/grafana/grafana-dashboard.json" \
    "$destdir$datadir/examples/alert-rules.example.toml" \
    "$cameras" \
    "$destdir$datadir/examples/99-fess.conf"; do
    if [ -s "$f" ]; then ok "installed ${f#"$destdir"}"; else fail "$f is missing or empty"; fi
done

# The plugin, from the installed file only: GST_PLUGIN_PATH is its directory, and each element's
# "Filename" must be that file (not a copy installed elsewhere on the system).
if command -v gst-inspect-1.0 >/dev/null 2>&1; then
    registry="$destdir/gst-registry.bin"
    for element in fessdetect fessface fessoverlay fesskafkasink; do
        if out="$(GST_PLUGIN_PATH="$destdir$plugindir" GST_REGISTRY_1_0="$registry" \
            gst-inspect-1.0 "$element" 2>&1)"; then
            from="$(printf '%s\n' "$out" | sed -n 's/^ *Filename *//p' | head -1)"
            if [ "$from" = "$plugin" ]; then
                ok "gst-inspect-1.0 $element (from $from)"
            else
                fail "gst-inspect-1.0 $element: loaded from '$from', not $plugin"
            fi
        else
            fail "gst-inspect-1.0 $element with GST_PLUGIN_PATH=$destdir$plugindir:"$'\n'"$out"
        fi
    done
    listed="$(GST_PLUGIN_PATH="$destdir$plugindir" GST_REGISTRY_1_0="$registry" gst-inspect-1.0 "$plugin" 2>&1)"
    for element in fessdetect fessface fessoverlay fesskafkasink; do
        printf '%s\n' "$listed" | grep -q "^  $element:" \
            || fail "gst-inspect-1.0 $plugin does not list $element"
    done
    # It runs as a user runs it: GST_PLUGIN_PATH only, the runtime and the models found by the
    # plugin itself (nothing the project's scripts export).
    if out="$(env -u ORT_DYLIB_PATH -u FESS_MODELS GST_PLUGIN_PATH="$destdir$plugindir" \
        GST_REGISTRY_1_0="$registry" gst-launch-1.0 -q videotestsrc num-buffers=2 ! \
        fessdetect motion-gate=false ! fakesink 2>&1)"; then
        ok "gst-launch-1.0 videotestsrc ! fessdetect ! fakesink with only GST_PLUGIN_PATH set"
    else
        fail "fessdetect from $plugin with only GST_PLUGIN_PATH set:"$'\n'"$out"
    fi
else
    fail "gst-inspect-1.0 not found (install gstreamer1.0-tools; scripts/setup.sh does)"
fi

# The binaries, from the bin dir.
for exe in fess fess-exporter; do
    if out="$("$destdir$bindir/$exe" --help 2>&1)"; then
        ok "$exe --help"
    else
        fail "$destdir$bindir/$exe --help:"$'\n'"$out"
    fi
done

# The units: ExecStart is the installed binary (its final path, without the destdir), and its
# arguments parse.
staged="$destdir.unit"
rm -rf "$staged" && mkdir -p "$staged"
# The ${NAME}s of the example cameras file, set to a dummy value for `fess run --check`.
read -r -a camera_vars <<<"$(grep -o '${[A-Za-z_][A-Za-z0-9_]*}' "$cameras" 2>/dev/null \
    | sed 's/^..//; s/}$/=x/' | sort -u | tr '\n' ' ')"
for name in $units; do
    unit="$destdir$unitdir/$name"
    exec_line="$(sed -n 's/^ExecStart=//p' "$unit" 2>/dev/null | head -1)"
    read -r -a exec_args <<<"$exec_line"
    exe="${exec_args[0]:-}"
    case "$exe" in
        "$bindir/fess-exporter" | "$bindir/fess") ok "$name: ExecStart=$exec_line" ;;
        *) fail "$unit: ExecStart='$exec_line' does not start with $bindir/fess-exporter or $bindir/fess" ;;
    esac
    if [ "$exe" = "$bindir/fess-exporter" ]; then
        # Its flags parse: the installed binary with ExecStart's arguments and --help.
        if out="$("$destdir$exe" "${exec_args[@]:1}" --help 2>&1)"; then
            ok "fess-exporter takes ExecStart's arguments: ${exec_args[*]:1}"
        else
            fail "$destdir$exe ${exec_args[*]:1} --help:"$'\n'"$out"
        fi
    elif [ "$exe" = "$bindir/fess" ]; then
        # The plugin the unit names is the installed one, and with it `fess run --check` takes
        # ExecStart's arguments, its cameras file replaced by the installed example. The
        # template's shard (%I) is checked as 0/3, what fess-run@0-3.service gives.
        gst_path="$(sed -n 's/^Environment=GST_PLUGIN_PATH=//p' "$unit" | head -1)"
        if [ "$gst_path" = "$plugindir" ]; then
            ok "$name: GST_PLUGIN_PATH=$gst_path"
        else
            fail "$unit: GST_PLUGIN_PATH='$gst_path', not $plugindir"
        fi
        shard=()
        grep -q '^Environment=FESS_SHARD=%I$' "$unit" && shard=(FESS_SHARD=0/3)
        args=()
        for a in "${exec_args[@]:1}"; do
            case "$a" in *.toml) args+=("$cameras") ;; *) args+=("$a") ;; esac
        done
        if out="$(env "${camera_vars[@]}" "${shard[@]}" GST_PLUGIN_PATH="$destdir$gst_path" \
            GST_REGISTRY_1_0="$destdir/gst-registry.bin" "$destdir$exe" "${args[@]}" --check 2>&1)"; then
            ok "$name: fess ${args[*]} --check ${shard[*]}"
        else
            fail "$name: fess ${args[*]} --check ${shard[*]}:"$'\n'"$out"
        fi
    fi
    # systemd-analyze verify: the binary is staged under DESTDIR, not yet at its final path, so
    # it verifies a copy of the unit whose ExecStart has DESTDIR in front (checked above).
    if command -v systemd-analyze >/dev/null 2>&1; then
        sed "s|^ExecStart=$exe|ExecStart=$destdir$exe|" "$unit" >"$staged/$name"
        if out="$(systemd-analyze verify "$staged/$name" 2>&1)" \
            && ! printf '%s\n' "$out" | grep -qE 'Unknown|not executable|No such file'; then
            ok "systemd-analyze verify $unitdir/$name"
        else
            fail "systemd-analyze verify $staged/$name (the installed unit, ExecStart under $destdir):"$'\n'"$out"
        fi
    else
        echo "skipped: systemd-analyze verify $name: systemd-analyze not found (scripts/setup.sh installs it)"
    fi
done

# The alerting rules, where they were installed (alerts.test.yml names alerts.yml relatively).
if command -v promtool >/dev/null 2>&1; then
    prom="$destdir$datadir/prometheus"
    for check in "check rules alerts.yml" "test rules alerts.test.yml" "check config prometheus.yml"; do
        # shellcheck disable=SC2086 # $check is a list of words
        if out="$(cd "$prom" && promtool $check 2>&1)"; then
            ok "promtool $check"
        else
            fail "promtool $check in $prom:"$'\n'"$out"
        fi
    done
else
    echo "skipped: promtool not found (scripts/setup.sh installs it)"
fi

if [ "$failures" -gt 0 ]; then
    echo "$failures check(s) of the installed tree failed" >&2
    exit 1
fi
echo "the installed tree in $destdir passed every check"
