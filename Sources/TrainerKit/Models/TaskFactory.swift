/// The one place a run config becomes a training task: its model kind's task over its dataset.
public enum TaskFactory {
    /// `config` with what depends on the data filled in: a seq2seq model's `positions: 0` becomes
    /// the longest sequence of `data.dataset` ([SOS]/[EOS] included, every split), so that the
    /// checkpoint and run_dir/config.yaml store the size the model was built with. Other configs
    /// come back unchanged. The dataset must exist.
    public static func resolve(_ config: RunConfig) throws -> RunConfig {
        guard config.model.kind == .seq2seq && config.model.positions == 0 else { return config }
        var resolved = config
        resolved.model.positions = try ParallelDataset(path: config.data.dataset).longestSequence
        return resolved
    }

    /// The task of `config` (`model.kind`) over `data.dataset`, which must exist; `config` must be
    /// resolved (`resolve`). Refuses, before allocating anything large, a config that cannot fit
    /// in this rank's share of the memory (`MemoryPreflight`).
    public static func make(config: RunConfig, ranksOnMachine: Int = 1) throws -> TrainingTask {
        switch config.model.kind {
        case .gpt:
            let dataset = try TokenDataset(path: config.data.dataset)
            try MemoryPreflight.check(MemoryPreflight.estimate(config: config, vocabulary: dataset.tokenizer.count),
                                      ranksOnMachine: ranksOnMachine)
            return try GPTTask(config: config, dataset: dataset)
        case .seq2seq:
            let dataset = try ParallelDataset(path: config.data.dataset)
            try MemoryPreflight.check(MemoryPreflight.estimate(config: config, vocabulary: dataset.targetTokenizer.count,
                                                               sourceVocabulary: dataset.sourceTokenizer.count),
                                      ranksOnMachine: ranksOnMachine)
            return try Seq2SeqTask(config: config, dataset: dataset)
        }
    }
}
