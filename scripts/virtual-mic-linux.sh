#!/usr/bin/env bash
# A virtual microphone on Linux (PulseAudio, or PipeWire with pipewire-pulse) for Zoom, Teams,
# Meet or OBS: the agent plays into a null sink "agent_mic"; a remapped source "agent_mic_source"
# ("Agent Mic") carries that sound to any app that lists microphones.
#
#   scripts/virtual-mic-linux.sh up       create it (idempotent)
#   scripts/virtual-mic-linux.sh down     remove it
#   scripts/virtual-mic-linux.sh status   say whether it is there
#
# Then: agent run --persona tutor --audio-device agent_mic   (or: agent say ... --device agent_mic)
# and pick "Agent Mic" as the microphone in the meeting app. The modules last until the sound
# server restarts; see docs/virtual-microphone.md to make them permanent.
set -euo pipefail

SINK="${AGENT_MIC_SINK:-agent_mic}"
SOURCE="${SINK}_source"

die() { echo "virtual-mic: $*" >&2; exit 1; }

command -v pactl >/dev/null || die "pactl not found; install it: sudo apt-get install pulseaudio-utils"
pactl info >/dev/null 2>&1 || die "no PulseAudio/PipeWire server answers; start one (pulseaudio --start, or log in to a desktop session)"

has_sink()   { pactl list short sinks   | cut -f2 | grep -qx "$SINK"; }
has_source() { pactl list short sources | cut -f2 | grep -qx "$SOURCE"; }
modules_of() { pactl list short modules | awk -v pat="$1" '$0 ~ pat {print $1}'; }

case "${1:-status}" in
  up)
    if ! has_sink; then
      pactl load-module module-null-sink sink_name="$SINK" \
        sink_properties=device.description=Agent_Speaker rate=48000 channels=1 >/dev/null
    fi
    if ! has_source; then
      pactl load-module module-remap-source master="$SINK.monitor" source_name="$SOURCE" \
        source_properties=device.description=Agent_Mic >/dev/null
    fi
    echo "virtual microphone ready: play to sink '$SINK'; apps pick the microphone 'Agent Mic' ($SOURCE)"
    ;;
  down)
    for id in $(modules_of "source_name=$SOURCE"); do pactl unload-module "$id"; done
    for id in $(modules_of "sink_name=$SINK"); do pactl unload-module "$id"; done
    echo "virtual microphone removed"
    ;;
  status)
    if has_sink && has_source; then
      echo "ready: sink '$SINK' -> microphone '$SOURCE'"
    elif has_sink; then
      echo "sink '$SINK' exists without the 'Agent Mic' source; run: $0 up"; exit 1
    else
      echo "no virtual microphone; run: $0 up"; exit 1
    fi
    ;;
  *)
    die "usage: $0 up|down|status"
    ;;
esac
