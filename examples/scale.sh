#!/bin/sh
# An exec actuator for trying the scaler out: it only logs the change it is
# asked for. A real one sets the pool's replica count to SPILLWAY_DESIRED on
# the platform (treating it as absolute, so that a retry cannot add twice)
# and, on scale-in, removes exactly the instances in SPILLWAY_VICTIM_IDS,
# which spillway has already drained. The same change arrives as JSON on
# stdin. A zero exit status tells spillway the platform accepted it.
log=${SPILLWAY_SCALE_LOG:-/tmp/spillway-scale.log}
printf '%s pool=%s current=%s desired=%s victims=%s victim_ids=%s reason=%s args=%s\n' \
  "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$SPILLWAY_POOL" "$SPILLWAY_CURRENT" \
  "$SPILLWAY_DESIRED" "$SPILLWAY_VICTIMS" "$SPILLWAY_VICTIM_IDS" \
  "$SPILLWAY_REASON" "$*" >>"$log"
