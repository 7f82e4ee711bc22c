import Foundation
import GRDB
import GuardianMesh

/// Alert channels (`AlertChannel`) as registry records: sealed at rest, opened for the sender and the API.
extension ReplicatedRegistry {
    public func save(channel: AlertChannel) throws {
        try RegistryRules.channel(channel)
        let value = try Self.encode(channel)
        try write(.channel, channel.id, value: value) { db in try sealedRow(channel, value).save(db) }
    }

    @discardableResult
    public func deleteChannel(id: String) throws -> Bool {
        guard try store.read({ try ChannelRow.exists($0, key: id) }) else { return false }
        try write(.channel, id, value: nil) { db in _ = try ChannelRow.deleteOne(db, key: id) }
        return true
    }

    public func channel(id: String) throws -> AlertChannel? {
        try store.read { db in try ChannelRow.fetchOne(db, key: id) }.map(open)
    }

    /// A team's channels, by name.
    public func channels(team: String) throws -> [AlertChannel] {
        try store.read { db in try ChannelRow.filter(Column("team") == team).order(Column("id")).fetchAll(db) }.map(open)
    }

    /// Every team's channels.
    public func channels() throws -> [AlertChannel] {
        try store.read { db in try ChannelRow.order(Column("id")).fetchAll(db) }.map(open)
    }

    static func encode(_ c: AlertChannel) throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = .sortedKeys
        return try e.encode(c)
    }

    func sealedRow(_ c: AlertChannel, _ value: Data) -> ChannelRow {
        ChannelRow(id: c.id, team: c.team, sealed: Data(secrets.seal([UInt8](value))))
    }

    func open(_ row: ChannelRow) throws -> AlertChannel {
        try JSONDecoder().decode(AlertChannel.self, from: Data(try secrets.open([UInt8](row.sealed))))
    }

    /// A merged channel record: checked like a local write, then sealed.
    func applyChannel(_ value: [UInt8], id: String, _ db: Database) throws {
        let c = try Self.decode(AlertChannel.self, value, id: id, \.id)
        try RegistryRules.channel(c)
        try sealedRow(c, Data(value)).save(db)
    }

    func channelValue(id: String, _ db: Database) throws -> Data? {
        try ChannelRow.fetchOne(db, key: id).map { try Self.encode(try open($0)) }
    }
}
