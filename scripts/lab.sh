#!/usr/bin/env bash
# The seed lab (../shared/LAB.md) in network namespaces, with `router` as the
# router VM.
#
#   sudo ./scripts/lab.sh up [static|broken|bgp] [--kernel]
#   sudo ./scripts/lab.sh demo      # curl-pod -> the three webpods, router counters
#   sudo ./scripts/lab.sh fix [static|bgp]   # broken -> fixed (default: the seed's static route)
#   sudo ./scripts/lab.sh status
#   sudo ./scripts/lab.sh down
#
# `--kernel` uses the router namespace's own kernel as the router (addresses on
# eth0/1/2, ip_forward=1, `ip route` routes), the "router VM" of the seed.
#
# Topology (every name below is prefixed with "$RLAB_PREFIX-", default "rlab-"):
#
#   wan (10.0.2.2, counts leaks) --eth0-- router --eth1-- switch(br0) --+-- k8s-ctr 192.168.10.100 -- curl-pod 172.20.0.95
#                                           |                           |                            \- webpod-ctr 172.20.0.238
#                                           |                           +-- k8s-w1  192.168.10.101 -- webpod-w1 172.20.1.154
#                                           +--eth2-- k8s-w0 192.168.20.100 -- webpod-w0 172.20.2.249
#
# Environment: RLAB_PREFIX (namespace prefix), RLAB_STATE (state dir),
# ROUTER_BIN (router binary; default target/release/router, built if absent),
# RLAB_NO_SETUP=1 (skip install-deps.sh and cargo build; the tests set it).
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

P=${RLAB_PREFIX:-rlab}
STATE=${RLAB_STATE:-/run/$P}
# A binary given by the caller is used as is; otherwise `up` builds one.
ROUTER_BIN_GIVEN=${ROUTER_BIN:+1}
ROUTER_BIN=${ROUTER_BIN:-$REPO_ROOT/target/release/router}
SOCK=$STATE/router.sock

NS_ROUTER=$P-router
NS_SWITCH=$P-switch
NS_WAN=$P-wan
NODES=(k8s-ctr k8s-w1 k8s-w0)
PODS=(curl-pod webpod-ctr webpod-w1 webpod-w0)
ALL_NS=("$NS_ROUTER" "$NS_SWITCH" "$NS_WAN")
for n in "${NODES[@]}" "${PODS[@]}"; do ALL_NS+=("$P-$n"); done

# node: address, PodCIDR, the router's address on its subnet
declare -A NODE_IP=([k8s-ctr]=192.168.10.100 [k8s-w1]=192.168.10.101 [k8s-w0]=192.168.20.100)
declare -A NODE_CIDR=([k8s-ctr]=172.20.0 [k8s-w1]=172.20.1 [k8s-w0]=172.20.2)
declare -A NODE_GW=([k8s-ctr]=192.168.10.200 [k8s-w1]=192.168.10.200 [k8s-w0]=192.168.20.200)
# pod: node, address, hostname (the seed's pod names)
declare -A POD_NODE=([curl-pod]=k8s-ctr [webpod-ctr]=k8s-ctr [webpod-w1]=k8s-w1 [webpod-w0]=k8s-w0)
declare -A POD_IP=([curl-pod]=172.20.0.95 [webpod-ctr]=172.20.0.238 [webpod-w1]=172.20.1.154 [webpod-w0]=172.20.2.249)
declare -A POD_HOST=([webpod-ctr]=webpod-697b545f57-85dkh [webpod-w1]=webpod-697b545f57-zjp55 [webpod-w0]=webpod-697b545f57-9lpt4)
WEBPODS=(webpod-ctr webpod-w1 webpod-w0)

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF "$1"; }

usage() {
    sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

# --- set-up ---------------------------------------------------------------

setup_machine() {
    [[ "${RLAB_NO_SETUP:-0}" == 1 ]] && return 0
    "$REPO_ROOT/scripts/install-deps.sh"
    if [[ "$FORWARDER" == router && -z "${ROUTER_BIN_GIVEN:-}" ]]; then
        find_cargo
        log "building router (cargo build --release -p router)"
        (cd "$REPO_ROOT" && cargo build --release -p router)
    fi
}

mkns() {
    ip netns add "$1"
    nsx "$1" ip link set lo up
    # No IPv6: no router solicitations or MLD reports in the counters.
    nsx "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
}

# veth NS_A IF_A NS_B IF_B: created directly in both namespaces, both up.
veth() {
    ip link add "$2" netns "$1" type veth peer name "$4" netns "$3"
    nsx "$1" ip link set "$2" up
    nsx "$3" ip link set "$4" up
}

build_topology() {
    local n
    for n in "${ALL_NS[@]}"; do mkns "$n"; done

    # The switch of node subnet 1.
    nsx "$NS_SWITCH" ip link add br0 type bridge
    nsx "$NS_SWITCH" ip link set br0 up
    veth "$NS_ROUTER" eth1 "$NS_SWITCH" p-router
    veth "$P-k8s-ctr" eth1 "$NS_SWITCH" p-k8s-ctr
    veth "$P-k8s-w1" eth1 "$NS_SWITCH" p-k8s-w1
    for n in p-router p-k8s-ctr p-k8s-w1; do nsx "$NS_SWITCH" ip link set "$n" master br0; done
    # Node subnet 2: one node, a direct link.
    veth "$NS_ROUTER" eth2 "$P-k8s-w0" eth1
    # The public side: a namespace that only receives (and counts) what leaks.
    veth "$NS_ROUTER" eth0 "$NS_WAN" eth0
    nsx "$NS_WAN" ip addr add 10.0.2.2/24 dev eth0
    nsx "$NS_WAN" sysctl -qw net.ipv4.ip_forward=0

    # Nodes: forward for their pods; same-subnet PodCIDRs direct (Cilium's
    # auto direct node routes); the other subnet and 172.20.0.0/16 via the router.
    for n in "${NODES[@]}"; do
        local ns=$P-$n gw=${NODE_GW[$n]}
        nsx "$ns" ip addr add "${NODE_IP[$n]}/24" dev eth1
        nsx "$ns" sysctl -qw net.ipv4.ip_forward=1
        # The node's side of its pods' default gateway (Cilium's cilium_host):
        # a /32 on lo; the kernel answers ARP for it on every lxc veth.
        nsx "$ns" ip addr add "${NODE_CIDR[$n]}.1/32" dev lo
        nsx "$ns" ip route add 172.20.0.0/16 via "$gw"
        nsx "$ns" ip route add 10.10.0.0/16 via "$gw"
        nsx "$ns" ip route add 10.0.2.0/24 via "$gw"
    done
    nsx "$P-k8s-ctr" ip route add 172.20.1.0/24 via 192.168.10.101
    nsx "$P-k8s-w1" ip route add 172.20.0.0/24 via 192.168.10.100
    nsx "$P-k8s-ctr" ip route add 192.168.20.0/24 via 192.168.10.200
    nsx "$P-k8s-w1" ip route add 192.168.20.0/24 via 192.168.10.200
    nsx "$P-k8s-w0" ip route add 192.168.10.0/24 via 192.168.20.200

    # Pods: a /32 on eth0, default via the node like Cilium; the node has a
    # /32 route to each of its pods.
    local pod
    for pod in "${PODS[@]}"; do
        local node=${POD_NODE[$pod]} ns=$P-$pod lxc=lxc-${pod#webpod-}
        [[ $pod == curl-pod ]] && lxc=lxc-curl
        veth "$P-$node" "$lxc" "$ns" eth0
        nsx "$ns" ip addr add "${POD_IP[$pod]}/32" dev eth0
        nsx "$ns" ip route add "${NODE_CIDR[$node]}.1" dev eth0 scope link
        nsx "$ns" ip route add default via "${NODE_CIDR[$node]}.1" dev eth0
        nsx "$P-$node" ip route add "${POD_IP[$pod]}/32" dev "$lxc"
    done
}

start_webpods() {
    local pod
    for pod in "${WEBPODS[@]}"; do
        # setsid: a session of its own, so the daemon outlives the caller's process group.
        setsid ip netns exec "$P-$pod" python3 "$REPO_ROOT/scripts/lib/whoami.py" --name "${POD_HOST[$pod]}" --port 80 \
            </dev/null >"$STATE/$pod.log" 2>&1 &
        echo $! >"$STATE/pids/$pod.pid"
    done
    for pod in "${WEBPODS[@]}"; do
        local i
        for i in $(seq 1 100); do
            nsx "$P-$pod" ss -Hltn 'sport = :80' | grep -q LISTEN && break
            [[ $i == 100 ]] && die "webpod $pod did not start: $(cat "$STATE/$pod.log")"
            sleep 0.05
        done
    done
}

config_file() {
    case $1 in
        static) echo "$REPO_ROOT/configs/lab-static.toml" ;;
        broken) echo "$REPO_ROOT/configs/lab-broken.toml" ;;
        bgp) echo "$REPO_ROOT/configs/lab-bgp.toml" ;;
        *) die "unknown lab config: $1" ;;
    esac
}

# The router namespace as `router` wants it: ports up, no kernel IPv4
# address, no kernel forwarding, offloads at their defaults.
start_router() {
    local cfg
    cfg=$(config_file "$1")
    [[ -f "$cfg" ]] || die "$cfg does not exist"
    [[ -x "$ROUTER_BIN" ]] || die "router binary $ROUTER_BIN not found (cargo build --release -p router)"
    nsx "$NS_ROUTER" sysctl -qw net.ipv4.ip_forward=0
    rm -f "$SOCK"
    RUST_LOG=${RUST_LOG:-info} setsid ip netns exec "$NS_ROUTER" "$ROUTER_BIN" run -c "$cfg" --socket "$SOCK" \
        </dev/null >>"$STATE/router.log" 2>&1 &
    echo $! >"$STATE/pids/router.pid"
    local i
    for i in $(seq 1 150); do
        if ! kill -0 "$(cat "$STATE/pids/router.pid")" 2>/dev/null; then
            die "router exited during start-up; its log ($STATE/router.log):
$(tail -n 30 "$STATE/router.log")"
        fi
        [[ -S "$SOCK" ]] && "$ROUTER_BIN" show interfaces --socket "$SOCK" >/dev/null 2>&1 && break
        [[ $i == 150 ]] && die "router control socket $SOCK not answering after 15 s"
        sleep 0.1
    done
    echo "$1" >"$STATE/config"
    log "router running in $NS_ROUTER with $(basename "$cfg") (pid $(cat "$STATE/pids/router.pid"), log $STATE/router.log)"
}

stop_router() {
    kill_pidfile "$STATE/pids/router.pid"
    rm -f "$SOCK"
}

# Cilium's side of the BGP fix: a gobgpd per node (AS 65001, hold 9 s,
# keepalive 3 s, eBGP multihop 2, graceful restart 15 s; it only connects
# outward) announcing the node's PodCIDR to the router's address on its subnet.
start_bgp_speakers() {
    command -v gobgpd >/dev/null && command -v gobgp >/dev/null || die "gobgpd/gobgp missing (scripts/install-deps.sh)"
    local n
    for n in "${NODES[@]}"; do
        local conf=$STATE/gobgpd-$n.toml
        cat >"$conf" <<EOC
[global.config]
  as = 65001
  router-id = "${NODE_IP[$n]}"
  port = -1
[[neighbors]]
  [neighbors.config]
    neighbor-address = "${NODE_GW[$n]}"
    peer-as = 65000
  [neighbors.timers.config]
    hold-time = 9
    keepalive-interval = 3
    connect-retry = 1
  [neighbors.ebgp-multihop.config]
    enabled = true
    multihop-ttl = 2
  [neighbors.graceful-restart.config]
    enabled = true
    restart-time = 15
    notification-enabled = true
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
EOC
        setsid ip netns exec "$P-$n" gobgpd -f "$conf" -t toml --api-hosts 127.0.0.1:50051 \
            </dev/null >"$STATE/gobgpd-$n.log" 2>&1 &
        echo $! >"$STATE/pids/gobgpd-$n.pid"
    done
    local i
    for n in "${NODES[@]}"; do
        for i in $(seq 1 100); do
            nsx "$P-$n" gobgp -u 127.0.0.1 -p 50051 global rib add -a ipv4 "${NODE_CIDR[$n]}.0/24" >/dev/null 2>&1 && break
            [[ $i == 100 ]] && die "gobgpd in $P-$n not answering: $(tail -n 5 "$STATE/gobgpd-$n.log")"
            sleep 0.1
        done
    done
    log "gobgpd on the nodes announces 172.20.{0,1,2}.0/24; waiting for the router to learn them"
    for i in $(seq 1 300); do
        local routes
        routes=$("$ROUTER_BIN" show route --socket "$SOCK" 2>/dev/null || true)
        if grep -q '^172\.20\.0\.0/24' <<<"$routes" && grep -q '^172\.20\.1\.0/24' <<<"$routes" \
            && grep -q '^172\.20\.2\.0/24' <<<"$routes"; then
            log "router learned all three PodCIDRs over BGP"
            return 0
        fi
        sleep 0.1
    done
    warn "the router has not learned all PodCIDRs after 30 s: see '$ROUTER_BIN show bgp summary --socket $SOCK'"
}

# The seed's router VM: the kernel routes.
kernel_router() {
    local r=$NS_ROUTER
    nsx "$r" ip addr add 10.0.2.15/24 dev eth0
    nsx "$r" ip addr add 192.168.10.200/24 dev eth1
    nsx "$r" ip addr add 192.168.20.200/24 dev eth2
    # loop1/loop2 (no dummy links here): host addresses on lo.
    nsx "$r" ip addr add 10.10.1.200/32 dev lo
    nsx "$r" ip addr add 10.10.2.200/32 dev lo
    nsx "$r" ip route add default via 10.0.2.2
    nsx "$r" sysctl -qw net.ipv4.ip_forward=1
    case $1 in
        static) kernel_static_routes ;;
        broken) ;;
        *) die "--kernel supports static and broken" ;;
    esac
    echo "$1" >"$STATE/config"
}

kernel_static_routes() {
    nsx "$NS_ROUTER" ip route replace 172.20.0.0/24 via 192.168.10.100
    nsx "$NS_ROUTER" ip route replace 172.20.1.0/24 via 192.168.10.101
    nsx "$NS_ROUTER" ip route replace 172.20.2.0/24 via 192.168.20.100
}

# --- commands ---------------------------------------------------------------

cmd_up() {
    local cfg=static
    FORWARDER=router
    while (($#)); do
        case $1 in
            static | broken | bgp) cfg=$1 ;;
            --kernel) FORWARDER=kernel ;;
            *) usage ;;
        esac
        shift
    done
    [[ $FORWARDER == kernel && $cfg == bgp ]] && die "--kernel supports static and broken"
    require_root "lab.sh up"
    setup_machine
    local n
    for n in "${ALL_NS[@]}"; do
        exists "$n" && die "namespace $n exists: the lab is up already (sudo $0 down)"
    done
    mkdir -p "$STATE/pids"
    # A failed `up` removes what it made, so the next `up` starts clean.
    trap 'rc=$?; if ((rc)); then warn "lab.sh up failed; removing what it made"; cmd_down; fi' EXIT
    echo "$FORWARDER" >"$STATE/forwarder"
    log "creating namespaces ($P-*)"
    build_topology
    start_webpods
    if [[ $FORWARDER == kernel ]]; then
        kernel_router "$cfg"
        log "kernel forwarding in $NS_ROUTER ($cfg)"
    else
        start_router "$cfg"
        [[ $cfg == bgp ]] && start_bgp_speakers
    fi
    trap - EXIT
    log "lab is up ($cfg, $FORWARDER). Next: sudo $0 demo"
    [[ $cfg == broken ]] && log "broken on purpose: demo shows 172.20.2.249 failing and leaking to the wan side; then: sudo $0 fix"
    return 0
}

forwarder() { cat "$STATE/forwarder" 2>/dev/null || echo none; }

wan_leaks() {
    # The wan namespace does not forward: every packet that reaches it for an
    # address it does not own is counted in Ip:InAddrErrors.
    nsx "$NS_WAN" awk '/^Ip:/ { if (!h) { for (i = 1; i <= NF; i++) col[$i] = i; h = 1 } else print $col["InAddrErrors"] }' /proc/net/snmp
}

cmd_demo() {
    require_root "lab.sh demo"
    exists "$NS_ROUTER" || die "the lab is not up (sudo $0 up static)"
    local rounds=${1:-10} pod i answered
    log "curl-pod (172.20.0.95) -> each webpod, $rounds rounds (the seed's curl loop, bounded)"
    local leak0 leak1
    leak0=$(wan_leaks)
    declare -A ok=()
    for i in $(seq 1 "$rounds"); do
        for pod in "${WEBPODS[@]}"; do
            if out=$(nsx "$P-curl-pod" curl -s --connect-timeout 1 --max-time 2 "http://${POD_IP[$pod]}/" | grep Hostname); then
                echo "$out   (${POD_IP[$pod]})"
                ok[$pod]=$((${ok[$pod]:-0} + 1))
            else
                echo "---   (${POD_IP[$pod]}: no answer)"
            fi
        done
    done
    echo
    for pod in "${WEBPODS[@]}"; do
        answered=${ok[$pod]:-0}
        printf '  %-14s %-13s on %-8s answered %2d/%d\n' "$pod" "${POD_IP[$pod]}" "${POD_NODE[$pod]}" "$answered" "$rounds"
    done
    echo
    log "ping curl-pod -> webpod on k8s-w0 (172.20.2.249), with tcpdump in the wan namespace"
    local cap=$STATE/wan.pcap.txt
    timeout 3 ip netns exec "$NS_WAN" tcpdump -i eth0 -nn -l -c 2 icmp >"$cap" 2>/dev/null &
    local tpid=$!
    sleep 0.5
    nsx "$P-curl-pod" ping -c 2 -i 0.3 -W 1 172.20.2.249 || true
    wait "$tpid" 2>/dev/null || true
    leak1=$(wan_leaks)
    if grep -q " IP " "$cap" 2>/dev/null; then
        echo "tcpdump in $NS_WAN (the public side) saw:"
        sed 's/^/    /' "$cap"
    else
        echo "tcpdump in $NS_WAN (the public side) saw nothing."
    fi
    echo "packets for foreign addresses that leaked to the wan side during the demo: $((leak1 - leak0))"
    echo
    if [[ $(forwarder) == router ]]; then
        log "router show interfaces"
        "$ROUTER_BIN" show interfaces --socket "$SOCK" || true
        log "router show route"
        "$ROUTER_BIN" show route --socket "$SOCK" || true
        if [[ $(cat "$STATE/config" 2>/dev/null) == bgp ]]; then
            log "router show bgp summary"
            "$ROUTER_BIN" show bgp summary --socket "$SOCK" || true
        fi
    else
        log "ip route (kernel forwarder in $NS_ROUTER)"
        nsx "$NS_ROUTER" ip route
        log "ip route get 172.20.2.36"
        nsx "$NS_ROUTER" ip route get 172.20.2.36 || true
    fi
    if [[ -z "${ok[webpod-w0]:-}" ]]; then
        echo
        log "172.20.2.249 is unreachable: the router has no route to 172.20.2.0/24 and sends it out its default route (eth0)."
        log "fix it as the seed does: sudo $0 fix"
    fi
}

cmd_fix() {
    require_root "lab.sh fix"
    exists "$NS_ROUTER" || die "the lab is not up"
    local to=${1:-static}
    if [[ $(forwarder) == kernel ]]; then
        [[ $to == static ]] || die "--kernel lab: only the static fix"
        log "ip route add 172.20.2.0/24 via 192.168.20.100 (and the other PodCIDRs) in $NS_ROUTER"
        kernel_static_routes
        echo static >"$STATE/config"
    else
        log "restarting router with configs/lab-$to.toml"
        stop_router
        start_router "$to"
        [[ $to == bgp ]] && start_bgp_speakers
    fi
    log "fixed. sudo $0 demo"
}

cmd_status() {
    local n up=0
    for n in "${ALL_NS[@]}"; do exists "$n" && up=$((up + 1)); done
    echo "namespaces ($P-*): $up of ${#ALL_NS[@]} present"
    ((up)) || return 0
    echo "forwarder: $(forwarder), config: $(cat "$STATE/config" 2>/dev/null || echo '?')"
    local f
    for f in "$STATE"/pids/*.pid; do
        [[ -f "$f" ]] || continue
        local pid
        pid=$(cat "$f")
        if kill -0 "$pid" 2>/dev/null; then echo "  $(basename "$f" .pid): pid $pid running"; else echo "  $(basename "$f" .pid): pid $pid NOT running"; fi
    done
    echo "wan leak counter (Ip:InAddrErrors in $NS_WAN): $(wan_leaks)"
    if [[ $(forwarder) == router && -S "$SOCK" ]]; then
        "$ROUTER_BIN" show interfaces --socket "$SOCK" || true
    fi
}

cmd_down() {
    require_root "lab.sh down"
    local f n
    if [[ -d "$STATE/pids" ]]; then
        for f in "$STATE"/pids/*.pid; do
            [[ -f "$f" ]] && kill_pidfile "$f"
        done
    fi
    for n in "${ALL_NS[@]}"; do del_netns "$n"; done
    rm -rf "$STATE"
    log "lab down"
}

main() {
    (($#)) || usage
    local cmd=$1
    shift
    case $cmd in
        up) cmd_up "$@" ;;
        demo) cmd_demo "$@" ;;
        fix) cmd_fix "$@" ;;
        status) cmd_status ;;
        down) cmd_down ;;
        *) usage ;;
    esac
}

main "$@"
