extension PathPattern {
    /// Parses `/exact` or `/prefix*`: a path starting with `/`, with `*` allowed only at its end.
    public init(parsing text: String) throws(RuleParseError) {
        self = try RuleParser.parsePath(Substring(text))
    }

    /// The pattern as written: the path, followed by `*` for a prefix.
    public var patternText: String { isPrefix ? path + "*" : path }
}
