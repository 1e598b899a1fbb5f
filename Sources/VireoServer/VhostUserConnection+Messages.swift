// VhostUserConnection+Messages: one handler per vhost-user request. Each validates sizes, fd counts and values before
// changing state; a refusal is a ProtocolViolation (NACK with REPLY_ACK, else the connection closes).
import GuestMemory
import VhostUser
import VireoSystem
import Virtio
import Wire

extension VhostUserConnection {
    /// Returns the reply payload for requests that have one.
    func handle(_ m: VhostUserMessage) throws -> [UInt8]? {
        guard let request = m.request else { throw ProtocolViolation("unknown request \(m.header.request)") }
        var r = WireReader(m.payload)
        func expectSize(_ n: Int) throws {
            guard m.payload.count == n else {
                throw ProtocolViolation("\(request): payload is \(m.payload.count) bytes, expected \(n)")
            }
        }
        func expectFDs(_ n: Int) throws {
            guard m.fds.count == n else { throw ProtocolViolation("\(request): \(m.fds.count) fds, expected \(n)") }
        }
        let fdTakers = Set<VhostUserRequest>([.setMemTable, .addMemReg, .remMemReg, .setVringKick, .setVringCall,
                                              .setVringErr, .setBackendReqFD]).union(deviceFDRequests)
        if !fdTakers.contains(request) { try expectFDs(0) }

        switch request {
        case .getFeatures:
            try expectSize(0)
            return u64(offeredFeatureBits)
        case .setFeatures:
            try expectSize(8)
            let f: UInt64 = try r.read()
            // Device-type bits (0...23) never offered are refused (e.g. F_VIRGL, GPU2D-3). QEMU passes transport
            // bits it handles itself (e.g. VIRTIO_F_RING_RESET, 40) through to every backend: those are ignored.
            let unoffered = f & ~offeredFeatureBits
            guard unoffered & 0xff_ffff == 0 else {
                throw ProtocolViolation("SET_FEATURES 0x\(String(f, radix: 16)) has device bits never offered")
            }
            if unoffered != 0 {
                logger.debug("SET_FEATURES: ignoring transport bits 0x\(String(unoffered, radix: 16)) the frontend handles")
            }
            features = f & offeredFeatureBits
            didNegotiateFeatures(f)
            for i in queues.indices { queues[i].queue?.eventIdx = f & FeatureBit.eventIdx != 0 }
            return nil
        case .getProtocolFeatures:
            try expectSize(0)
            return u64(offeredProtocolFeatureBits)
        case .setProtocolFeatures:
            try expectSize(8)
            let f: UInt64 = try r.read()
            guard f & ~offeredProtocolFeatureBits == 0 else {
                throw ProtocolViolation("SET_PROTOCOL_FEATURES 0x\(String(f, radix: 16)) has bits never offered")
            }
            protocolFeatures = f
            return nil
        case .setOwner:
            try expectSize(0)
            ownerSet = true
            return nil
        case .resetOwner, .resetDevice:
            try expectSize(0)
            resetDevice()
            return nil
        case .getQueueNum:
            try expectSize(0)
            return u64(UInt64(queueCount))
        case .getMaxMemSlots:
            try expectSize(0)
            return u64(UInt64(config.maxMemSlots))
        case .setMemTable:
            let table: VhostUserMemory
            do { table = try VhostUserMemory(from: &r) } catch { throw ProtocolViolation("SET_MEM_TABLE: \(error)") }
            try expectFDs(table.regions.count)
            let layouts = table.regions.map(Self.layout)
            try validateTable(layouts)
            try adopt(zip(layouts, m.fds).map { try mapRegion($0, fd: $1) })
            return nil
        case .addMemReg:
            try expectSize(8 + VhostUserMemoryRegion.size)
            try expectFDs(1)
            _ = try r.read(UInt64.self)   // padding
            let region = try VhostUserMemoryRegion(from: &r)
            guard regions.count < config.maxMemSlots else {
                throw ProtocolViolation("ADD_MEM_REG: all \(config.maxMemSlots) slots are used")
            }
            let layout = Self.layout(region)
            try validateTable(regions.map(\.layout) + [layout])
            try adopt(regions + [try mapRegion(layout, fd: m.fds[0])])
            return nil
        case .remMemReg:
            try expectSize(8 + VhostUserMemoryRegion.size)
            guard m.fds.count <= 1 else { throw ProtocolViolation("REM_MEM_REG: \(m.fds.count) fds") }
            _ = try r.read(UInt64.self)
            let region = try VhostUserMemoryRegion(from: &r)
            guard let i = regions.firstIndex(where: {
                $0.layout.guestPhysAddr == region.guestPhysAddr && $0.layout.memorySize == region.memorySize
            }) else { throw ProtocolViolation("REM_MEM_REG: no region at 0x\(String(region.guestPhysAddr, radix: 16))") }
            var kept = regions
            kept.remove(at: i)
            try adopt(kept)
            return nil
        case .setVringNum:
            try expectSize(VringState.size)
            let s = try VringState(from: &r)
            let i = try queueIndex(s.index, request)
            guard VirtqueueLayout.isValidSize(s.num) else {
                throw ProtocolViolation("SET_VRING_NUM: \(s.num) is not a power of two in 1...32768")
            }
            guard !queues[i].started else { throw ProtocolViolation("SET_VRING_NUM on started ring \(i)") }
            queues[i].num = s.num
            return nil
        case .setVringAddr:
            try expectSize(VringAddr.size)
            let a = try VringAddr(from: &r)
            let i = try queueIndex(a.index, request)
            // With ACCESS_PLATFORM the addresses are IOVAs, checked through the IOTLB when the ring is used.
            for (what, addr) in [("descriptor table", a.descUserAddr), ("used ring", a.usedUserAddr),
                                 ("available ring", a.availUserAddr)]
            where !addressesAreIOVAs && memory.guestAddress(ofUserAddress: addr) == nil {
                throw ProtocolViolation("SET_VRING_ADDR: \(what) address 0x\(String(addr, radix: 16)) is not mapped")
            }
            queues[i].addr = a
            if queues[i].started { try startQueue(i) }
            return nil
        case .setVringBase:
            try expectSize(VringState.size)
            let s = try VringState(from: &r)
            let i = try queueIndex(s.index, request)
            guard s.num <= UInt32(UInt16.max) else { throw ProtocolViolation("SET_VRING_BASE: \(s.num) > 65535") }
            guard !queues[i].started else { throw ProtocolViolation("SET_VRING_BASE on started ring \(i)") }
            queues[i].base = UInt16(s.num)
            return nil
        case .getVringBase:
            try expectSize(VringState.size)
            let s = try VringState(from: &r)
            let i = try queueIndex(s.index, request)
            // Stopping the ring: answer the next avail index the device would have read.
            let last = stopQueue(i)
            return VringState(index: s.index, num: UInt32(last)).encoded
        case .setVringKick, .setVringCall, .setVringErr:
            try expectSize(8)
            let v: UInt64 = try r.read()
            let i = try queueIndex(UInt32(v & 0xff), request)
            let noFD = v & 0x100 != 0
            guard v & ~UInt64(0x1ff) == 0 else { throw ProtocolViolation("\(request): reserved bits set in 0x\(String(v, radix: 16))") }
            try expectFDs(noFD ? 0 : 1)
            let fd = m.fds.first
            switch request {
            case .setVringKick:
                guard let fd else { throw ProtocolViolation("SET_VRING_KICK without fd: polling is not supported") }
                if let old = queues[i].kick {
                    epoll.remove(old)
                    queues[i].started = false
                    queueStopped(i)
                }
                queues[i].kick = fd
                try startQueue(i)
            case .setVringCall: queues[i].call = fd
            default: queues[i].err = fd
            }
            return nil
        case .setVringEnable:
            try expectSize(VringState.size)
            let s = try VringState(from: &r)
            let i = try queueIndex(s.index, request)
            guard s.num <= 1 else { throw ProtocolViolation("SET_VRING_ENABLE: \(s.num) is neither 0 nor 1") }
            queues[i].enabled = s.num == 1
            if queues[i].enabled && queues[i].started { pendingKicks.insert(i) }
            return nil
        case .getConfig:
            let c: VhostUserConfig
            do { c = try VhostUserConfig(from: &r) } catch { throw ProtocolViolation("GET_CONFIG: \(error)") }
            let space = deviceConfigSpace
            guard c.offset <= UInt32(space.count), c.size <= UInt32(space.count) - c.offset else {
                // GET_CONFIG has its own reply, so no NACK: an empty config tells the frontend it failed.
                logger.warning("GET_CONFIG: \(c.size) bytes at \(c.offset) outside the \(space.count)-byte config")
                return VhostUserConfig(offset: c.offset, size: 0, flags: c.flags, payload: []).encoded
            }
            let slice = Array(space[Int(c.offset)..<Int(c.offset + c.size)])
            return VhostUserConfig(offset: c.offset, size: c.size, flags: c.flags, payload: slice).encoded
        case .setConfig:
            let c: VhostUserConfig
            do { c = try VhostUserConfig(from: &r) } catch { throw ProtocolViolation("SET_CONFIG: \(error)") }
            let spaceSize = UInt32(deviceConfigSpace.count)
            guard c.offset <= spaceSize, c.size <= spaceSize - c.offset else {
                throw ProtocolViolation("SET_CONFIG: \(c.size) bytes at \(c.offset) outside the config space")
            }
            writeDeviceConfig(offset: c.offset, bytes: c.payload)
            return nil
        case .setStatus:
            try expectSize(8)
            let v: UInt64 = try r.read()
            guard v <= 0xff else { throw ProtocolViolation("SET_STATUS: 0x\(String(v, radix: 16)) is not a status byte") }
            status = UInt8(v)
            if v == 0 { resetDevice() }
            return nil
        case .getStatus:
            try expectSize(0)
            return u64(UInt64(status))
        case .setBackendReqFD:
            try expectSize(0)
            try expectFDs(1)
            backendChannel = m.fds[0]
            return nil
        case .iotlbMsg:
            try handleIOTLB(m.payload)
            return nil
        default:
            return try handleDeviceRequest(request, m)
        }
    }

    func queueIndex(_ index: UInt32, _ request: VhostUserRequest) throws -> Int {
        guard index < UInt32(queueCount) else {
            throw ProtocolViolation("\(request): vring index \(index) out of range (\(deviceName) has \(queueCount))")
        }
        return Int(index)
    }

    static func layout(_ r: VhostUserMemoryRegion) -> MemoryRegionLayout {
        MemoryRegionLayout(guestPhysAddr: r.guestPhysAddr, memorySize: r.memorySize, userspaceAddr: r.userspaceAddr,
                           mmapOffset: r.mmapOffset)
    }

    /// The whole table is checked before anything is mapped.
    func validateTable(_ layouts: [MemoryRegionLayout]) throws {
        do { try GuestMemory.validate(layouts) } catch { throw ProtocolViolation("memory table: \(error)") }
    }

    /// Maps one region; the mapping must lie within its file (a short file would SIGBUS on access).
    func mapRegion(_ layout: MemoryRegionLayout, fd: OwnedFD) throws -> MemoryRegion {
        let at = "region at 0x\(String(layout.guestPhysAddr, radix: 16))"
        let fileSize = (try? fd.fileSize()) ?? 0
        let (end, overflow) = layout.mmapOffset.addingReportingOverflow(layout.memorySize)
        if fileSize > 0, overflow || end > fileSize { throw ProtocolViolation("\(at) extends past its file") }
        do { return try MemoryRegion(layout: layout, fd: fd) } catch { throw ProtocolViolation("\(at): \(error)") }
    }

    func adopt(_ mapped: [MemoryRegion]) throws {
        do { memory = try GuestMemory(regions: mapped, maxRegions: config.maxMemSlots) } catch {
            throw ProtocolViolation("memory table: \(error)")
        }
        regions = mapped
        memoryTableChanged()
        // Ring addresses are frontend virtual addresses: re-derive them for the new table.
        for i in queues.indices where queues[i].started {
            do { try startQueue(i) } catch {
                logger.warning("ring \(i) no longer fits the new memory table: \(error)")
                queues[i].broken = true
            }
        }
    }

    /// Builds the live Virtqueue from num/addr/base once the ring has a kick fd (vhost-user: "started").
    func startQueue(_ i: Int) throws {
        guard let kick = queues[i].kick else { return }
        guard let a = queues[i].addr, queues[i].num > 0 else {
            throw ProtocolViolation("ring \(i) kicked before SET_VRING_NUM/SET_VRING_ADDR")
        }
        let layout: VirtqueueLayout
        if addressesAreIOVAs {
            // IOVAs: every ring access is translated and checked when it happens. The frontend waits for our
            // reply now and could not answer a miss, so the translations are only requested (prefetch).
            layout = VirtqueueLayout(size: UInt16(queues[i].num), descTable: a.descUserAddr,
                                     availRing: a.availUserAddr, usedRing: a.usedUserAddr)
            for addr in [a.descUserAddr, a.availUserAddr, a.usedUserAddr]
            where deviceTranslator == nil && !iotlb.covers(addr) {
                sendBackendIOTLB(IOTLBMessage(iova: addr, size: 1, userAddr: 0, perm: 3, type: .miss))
            }
        } else {
            guard let desc = memory.guestAddress(ofUserAddress: a.descUserAddr),
                  let avail = memory.guestAddress(ofUserAddress: a.availUserAddr),
                  let used = memory.guestAddress(ofUserAddress: a.usedUserAddr) else {
                throw ProtocolViolation("ring \(i) addresses are not in the memory table")
            }
            layout = VirtqueueLayout(size: UInt16(queues[i].num), descTable: desc, availRing: avail, usedRing: used)
        }
        let base = queues[i].queue?.lastAvailIdx ?? queues[i].base
        do {
            queues[i].queue = try Virtqueue(layout: layout, dma: dma, eventIdx: features & FeatureBit.eventIdx != 0,
                                            base: base, checkRings: !addressesAreIOVAs)
        } catch { throw ProtocolViolation("ring \(i): \(error)") }
        if !queues[i].started {
            try epoll.add(kick, tag: UInt64(i))
            queues[i].started = true
        }
        queues[i].broken = false
        // Without protocol features rings start enabled (vhost-user "Ring states").
        if features & FeatureBit.protocolFeatures == 0 { queues[i].enabled = true }
        // Chains published before the ring started are served after the reply: the frontend waits for it now.
        pendingKicks.insert(i)
    }

    func resetDevice() {
        for i in queues.indices {
            _ = stopQueue(i)
            queues[i] = QueueState()
        }
        resetDeviceState()
        iotlb.removeAll()
        features = 0
        status = 0
    }
}
