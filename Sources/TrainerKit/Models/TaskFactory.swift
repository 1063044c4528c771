/// The one place a run config becomes a training task: its model kind's task over its dataset.
public enum TaskFactory {
    /// The task of `config` (`model.kind`) over `data.dataset`, which must exist. Refuses, before
    /// allocating anything large, a config that cannot fit in this rank's share of the memory
    /// (`MemoryPreflight`).
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
