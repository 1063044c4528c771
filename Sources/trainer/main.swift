import TrainerKit
print(BLAS.configuration)
