/// Names a rule's bucket in Redis: `sidecar:{<key-hash>}:<rule>`.
///
/// The key hash is the first 16 hex characters (64 bits) of the SHA-1 of the client key string
/// (see ``ClientKey``), so values of any size or bytes are never sent raw, and one client's
/// buckets share a Redis Cluster slot through the `{…}` hash tag. A rule without `by` (one bucket
/// for the fleet) uses the tag `{global}`.
public enum RedisBucketKey {
    /// The Redis key of `rule`'s bucket for `clientKey` (`nil`: the rule's fleet-wide bucket).
    public static func name(rule: String, clientKey: String?) -> String {
        guard let clientKey else { return "sidecar:{global}:\(rule)" }
        return "sidecar:{\(self.hash(clientKey))}:\(rule)"
    }

    /// The 16 hex characters that stand for `clientKey` in bucket names.
    public static func hash(_ clientKey: String) -> String {
        SHA1Hex.of(Array(clientKey.utf8), prefix: 8)
    }
}
