// Package file is the discovery source for fleets without Consul: it reads
// a catalog of instances from a YAML file and delivers it again whenever the
// file changes.
//
// The file names services and, for each, its instances:
//
//	services:
//	  inference:
//	    - id: gpu-a100-1      # required, unique within the service
//	      address: 127.0.0.1  # required: IP address or hostname, no port
//	      port: 8001          # required, 1 to 65535
//	      node: node-a
//	      datacenter: dc1
//	      zone: zone-a
//	      tags: [gpu]
//	      meta: {gpu: a100}
//	      weights: {passing: 1, warning: 1}
//	      health: passing     # passing, warning, critical or maintenance
//	      maintenance: false  # true is the same as health: maintenance
//
// Decoding is strict: an unknown or repeated field is an error, and every
// problem is reported at once as "FILE:LINE: field.path: message". A key
// left empty (or null) counts as not set. An empty file is an error, so
// that a half-written file can never empty the fleet; a catalog with no
// instances is written "services: {}".
//
// Writers should replace the file atomically (write a temporary file in the
// same directory, then rename it over the catalog), as editors and
// Kubernetes ConfigMap volumes do. A file rewritten in place can be read
// half-written; a brief debounce makes that unlikely, not impossible.
package file
