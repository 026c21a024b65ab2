// Package externalscaler is the Go code generated from
// scaler/keda/externalscaler.proto, KEDA's external scaler protocol. Do not
// edit the .pb.go files; run scripts/gen-keda.sh after changing the proto.
package externalscaler
