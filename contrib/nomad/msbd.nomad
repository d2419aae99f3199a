# One msbd on every client node of the cluster, as a Nomad system job. msbd needs the host
# itself (namespaces, mounts, cgroups, /proc), so it runs with raw_exec as root, from the
# binaries contrib/install.sh put on each node. Run it: nomad job run contrib/nomad/msbd.nomad
job "msbd" {
  type = "system"

  group "msbd" {
    # A node's msbd restarts in place; its sessions live in the node's state dir.
    restart {
      attempts = 10
      interval = "10m"
      delay    = "5s"
      mode     = "delay"
    }

    task "msbd" {
      driver = "raw_exec"

      config {
        command = "/usr/local/bin/msbd"
      }

      env {
        MSB_SOCKET       = "/run/msbd/msbd.sock"
        MSB_STATE_DIR    = "/var/lib/msbd"
        # Members of this group may use msbctl on the node.
        MSB_SOCKET_GROUP = "msbd"
      }

      # A stop is msbd's drained shutdown (--shutdown-timeout, 30 s by default), which
      # stops every sandbox: give it that long before SIGKILL.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"

      # What msbd itself needs; sandboxes are held by their own cgroups, which msbd makes.
      resources {
        cpu    = 200
        memory = 256
      }
    }
  }
}
